"""cara.imaging.xmp: the rights packet, on its own (tests/imaging/test_render.py checks it
inside derivatives)."""

import xml.etree.ElementTree as ET

import pytest

from cara.imaging import xmp
from tests.imaging.images import NS

DMI = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"


def test_licence_and_contact_in_xmp():
    rights = xmp.Rights(
        "Ana",
        "© 2025 Ana",
        "https://cara.example/posts/1",
        "https://creativecommons.org/licenses/by-nc/4.0/",
        creator_url="https://cara.example/@ana",
    )
    desc = ET.fromstring(xmp.build_xmp(rights)).find(".//rdf:Description", NS)
    lic = desc.find("cc:license", NS).get(f"{{{NS['rdf']}}}resource")
    assert lic == rights.licence_url
    assert desc.find(".//Iptc4xmpCore:CiUrlWork", NS).text == rights.creator_url
    cc0 = xmp.Rights(
        "Ana",
        "No rights reserved",
        "https://x/1",
        "https://creativecommons.org/publicdomain/zero/1.0/",
    )
    desc = ET.fromstring(xmp.build_xmp(cc0)).find(".//rdf:Description", NS)
    assert desc.find("xmpRights:Marked", NS).text == "False"


def test_build_xmp_refuses_unknown_data_mining_and_strips_control_chars():
    with pytest.raises(ValueError):
        xmp.build_xmp(xmp.Rights("a", "b", "c", None, data_mining="ALLOW-EVERYTHING"))
    full = xmp.Rights("a", "b", "c", None, data_mining=DMI)  # full URI accepted
    assert DMI.encode() in xmp.build_xmp(full)
    odd = xmp.Rights("bell\x07name", "b", "c", None)
    desc = ET.fromstring(xmp.build_xmp(odd)).find(".//rdf:Description", NS)
    assert desc.find("dc:creator/rdf:Seq/rdf:li", NS).text == "bellname"
