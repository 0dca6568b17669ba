"""Fixtures for tests/core: a real S3-compatible server for the S3 storage tests."""

import uuid

import pytest

from tests.support import s3_client, start_s3_server


@pytest.fixture(scope="session")
def s3_endpoint():
    endpoint, stop = start_s3_server()
    yield endpoint
    stop()


@pytest.fixture
def s3_settings(s3_endpoint):
    """Settings for STORAGE='s3' on a fresh bucket of the test server."""
    settings = {
        "STORAGE": "s3",
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_BUCKET": f"cara-{uuid.uuid4().hex[:12]}",
        "S3_ACCESS_KEY_ID": "test",
        "S3_SECRET_ACCESS_KEY": "test-secret",
        "S3_REGION": "us-east-1",
    }
    s3_client(settings).create_bucket(Bucket=settings["S3_BUCKET"])
    return settings
