"""Media in an S3-compatible bucket (AWS S3, MinIO, Garage, R2, ...), so several web and worker
machines share it. Keys under S3_PREFIX:

- `orig/<random>`: originals, private (no ACL, no policy may cover them);
- `d/<media id>/<name>`: derivatives of images not everyone may see (private);
- `pub/<media id>/<name>`: derivatives of public images, the only prefix a public-read bucket
  policy may cover (MEDIA_SERVE = "public-url").

Every object is private unless the bucket's policy says otherwise; the app never sets ACLs.
"""

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from flask import Flask, Response, current_app, request

from cara.core.storage import MIME, RemoteFolder, cache_control

CHUNK = 256 * 1024


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class S3Storage:
    def __init__(self, app: Flask):
        cfg = app.config
        if not cfg["S3_BUCKET"]:
            raise RuntimeError("STORAGE='s3' needs S3_BUCKET (and usually S3_ENDPOINT_URL)")
        if cfg["MEDIA_SERVE"] == "public-url" and not cfg["S3_PUBLIC_URL"]:
            raise RuntimeError("MEDIA_SERVE='public-url' needs S3_PUBLIC_URL")
        self.bucket = cfg["S3_BUCKET"]
        self.prefix = cfg["S3_PREFIX"]
        self.public_url = (cfg["S3_PUBLIC_URL"] or "").rstrip("/")
        self.presign_seconds = int(cfg["S3_PRESIGN_SECONDS"])
        self.client = boto3.client(
            "s3",
            endpoint_url=cfg["S3_ENDPOINT_URL"],
            region_name=cfg["S3_REGION"],
            # Unset: boto3's usual chain (environment, ~/.aws, instance role).
            aws_access_key_id=cfg["S3_ACCESS_KEY_ID"],
            aws_secret_access_key=cfg["S3_SECRET_ACCESS_KEY"],
            config=Config(
                signature_version="s3v4",
                # Self-hosted servers (MinIO, Garage) answer on one host: path-style keys.
                s3={"addressing_style": "path" if cfg["S3_ENDPOINT_URL"] else "auto"},
                retries={"max_attempts": 4, "mode": "standard"},
            ),
        )

    # --- keys --------------------------------------------------------------------------------

    def _original_key(self, relative: str) -> str:
        return f"{self.prefix}orig/{relative}"

    def _folder(self, media_id: int, public: bool) -> str:
        return f"{self.prefix}{'pub' if public else 'd'}/{media_id}/"

    def _key(self, media_id: int, name: str, public: bool) -> str:
        return self._folder(media_id, public) + name

    def _keys_of(self, media_id: int) -> list[str]:
        keys = []
        paginator = self.client.get_paginator("list_objects_v2")
        for public in (False, True):
            for page in paginator.paginate(
                Bucket=self.bucket, Prefix=self._folder(media_id, public)
            ):
                keys += [obj["Key"] for obj in page.get("Contents", [])]
        return keys

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the API's batch limit
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    # --- originals ---------------------------------------------------------------------------

    def save_original(self, relative: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._original_key(relative), Body=data)

    @contextlib.contextmanager
    def original_file(self, relative: str) -> Iterator[Path]:
        with self._downloaded(self._original_key(relative)) as path:
            if path is None:
                raise FileNotFoundError(relative)
            yield path

    @contextlib.contextmanager
    def _downloaded(self, key: str) -> Iterator[Path | None]:
        """Pillow wants a file: the object in a private temporary folder, None if missing."""
        with tempfile.TemporaryDirectory(prefix="cara-s3-") as folder:
            path = Path(folder) / key.rpartition("/")[2]
            try:
                self.client.download_file(self.bucket, key, str(path))
            except ClientError as exc:
                if not _missing(exc):
                    raise
                path = None
            yield path

    # --- derivatives -------------------------------------------------------------------------

    @contextlib.contextmanager
    def new_derivatives(self, media_id: int, public: bool) -> Iterator[Path]:
        """Derivatives are written to a temporary folder, then uploaded (only if all went well)."""
        with tempfile.TemporaryDirectory(prefix="cara-d-") as folder:
            yield Path(folder)
            for path in sorted(Path(folder).iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    self.client.upload_file(
                        str(path),
                        self.bucket,
                        self._key(media_id, path.name, public),
                        ExtraArgs=self._headers(path.name, public),
                    )

    def _headers(self, name: str, public: bool) -> dict:
        return {
            "ContentType": MIME.get(name.rpartition(".")[2], "application/octet-stream"),
            "CacheControl": cache_control(public),
        }

    def derivative_file(self, media_id: int, name: str, public: bool):
        return self._downloaded(self._key(media_id, name, public))

    def copy_derivative(self, media_id: int, old: str, new: str, public: bool) -> None:
        # The old name belongs to the other visibility (that is why it is renamed).
        self.client.copy_object(
            Bucket=self.bucket,
            CopySource={"Bucket": self.bucket, "Key": self._key(media_id, old, not public)},
            Key=self._key(media_id, new, public),
            MetadataDirective="REPLACE",
            **self._headers(new, public),
        )

    def prune_derivatives(self, media_id: int, stem: str) -> None:
        keys = self._keys_of(media_id)
        self._delete([k for k in keys if not k.rpartition("/")[2].startswith(f"{stem}-")])

    def delete_derivatives(self, media_id: int, names: list[str], public: bool) -> None:
        self._delete([self._key(media_id, name, public) for name in names])

    def delete_media_files(self, media_id: int, original_relative: str | None) -> None:
        keys = self._keys_of(media_id)
        if original_relative:
            keys.append(self._original_key(original_relative))
        self._delete(keys)

    # --- serving -----------------------------------------------------------------------------

    def send(self, media_id: int, name: str, public: bool, mimetype: str) -> Response | None:
        """Streamed through the app: the only way non-public images leave the bucket."""
        return self._send(self._key(media_id, name, public), mimetype)

    def _send(self, key: str, mimetype: str) -> Response | None:
        extra = {}
        if request.if_none_match:
            extra["IfNoneMatch"] = request.headers["If-None-Match"]
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=key, **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("304", "NotModified"):
                return Response(status=304)
            if _missing(exc):
                return None
            raise
        body = obj["Body"]
        response = Response(body.iter_chunks(CHUNK), mimetype=mimetype, direct_passthrough=True)
        response.content_length = obj["ContentLength"]
        response.headers["ETag"] = obj["ETag"]
        response.call_on_close(body.close)
        return response

    # --- remote images (federation): remote/<folder>/<name>, private ---------------

    def _remote_folder(self, folder: RemoteFolder) -> str:
        return f"{self.prefix}remote/{folder}/"

    def save_remote(self, folder: RemoteFolder, path: Path) -> None:
        key = self._remote_folder(folder) + path.name
        self.client.upload_file(
            str(path), self.bucket, key, ExtraArgs=self._headers(path.name, False)
        )
        path.unlink()

    def send_remote(self, folder: RemoteFolder, name: str, mimetype: str) -> Response | None:
        return self._send(self._remote_folder(folder) + name, mimetype)

    def remote_file(self, folder: RemoteFolder, name: str):
        return self._downloaded(self._remote_folder(folder) + name)

    def delete_remote_files(self, folder: RemoteFolder, names: list[str]) -> None:
        self._delete([self._remote_folder(folder) + name for name in names])

    def delete_remote(self, folder: RemoteFolder) -> None:
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._remote_folder(folder))
        self._delete([obj["Key"] for obj in listed.get("Contents", [])])

    def url(self, media_id: int, name: str) -> str:
        """A URL for a PUBLIC derivative: the public bucket's, or a presigned one."""
        key = self._key(media_id, name, public=True)
        if current_app.config["MEDIA_SERVE"] == "public-url":
            return f"{self.public_url}/{key}"
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=self.presign_seconds,
        )
