"""Rights metadata written into every derivative: the XMP packet (creator, copyright, web
statement, licence, PLUS DataMining reservation) and the EXIF Artist/Copyright for JPEGs.
Built from our database (``Rights``), never from the upload."""

from __future__ import annotations

import re
from dataclasses import dataclass

from PIL import Image

_EXIF_ARTIST = 0x013B
_EXIF_COPYRIGHT = 0x8298

PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"
# PLUS LDF DataMining vocabulary (IPTC Photo Metadata 2023.1): the code -> its plain meaning.
DATA_MINING_VALUES: dict[str, str] = {
    "DMI-UNSPECIFIED": "",
    "DMI-ALLOWED": "",
    "DMI-PROHIBITED-AIMLTRAINING": "Use of this work to train AI or machine-learning models "
    "is prohibited.",
    "DMI-PROHIBITED-GENAIMLTRAINING": "Use of this work to train generative AI or "
    "machine-learning models is prohibited.",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": "Data mining of this work is prohibited, "
    "except for search engine indexing.",
    "DMI-PROHIBITED": "Data mining of this work is prohibited.",
    "DMI-PROHIBITED-SEECONSTRAINT": "Data mining of this work is prohibited; see the usage terms.",
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR": "Data mining of this work is prohibited.",
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR": "Data mining of this work is prohibited.",
}


@dataclass(frozen=True)
class Rights:
    """What we write into every derivative, from our database (never from the upload)."""

    creator: str
    copyright: str
    web_statement: str
    licence_url: str | None
    data_mining: str = "DMI-PROHIBITED-AIMLTRAINING"
    creator_url: str | None = None  # the artist's profile page (Iptc4xmpCore:CiUrlWork)


_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(value: str) -> str:
    return _INVALID_XML.sub("", value)


def _esc(value: str) -> str:
    """Escape for XML text and double-quoted attributes; drop characters XML cannot hold."""
    value = _xml_safe(value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def data_mining_code(value: str) -> str:
    """Normalise a PLUS DataMining value (code or full URI) to its code; ValueError if unknown."""
    code = value.strip()
    if code.startswith(PLUS_VOCAB):
        code = code[len(PLUS_VOCAB) :]
    code = code.upper()
    if code not in DATA_MINING_VALUES:
        raise ValueError(f"unknown PLUS DataMining value: {value!r}")
    return code


def usage_terms(rights: Rights) -> str:
    """Human-readable terms written as xmpRights:UsageTerms."""
    parts = [
        f"Licensed under {rights.licence_url}." if rights.licence_url else "All rights reserved."
    ]
    if dmi := DATA_MINING_VALUES[data_mining_code(rights.data_mining)]:
        parts.append(dmi)
    if rights.web_statement:
        parts.append(f"See {rights.web_statement}")
    return " ".join(parts)


def build_xmp(rights: Rights) -> bytes:
    """An XMP packet (UTF-8) with creator, copyright, web statement, licence and the PLUS
    DataMining reservation. Every value is escaped; the layout is fixed so output is stable."""
    code = data_mining_code(rights.data_mining)
    licence = rights.licence_url
    public_domain = bool(licence and "publicdomain" in licence.lower())
    lines = [
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
        '  <rdf:Description rdf:about=""',
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
        '    xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"',
        '    xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"',
        '    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"',
        '    xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"',
        '    xmlns:cc="http://creativecommons.org/ns#">',
        f"   <dc:creator><rdf:Seq><rdf:li>{_esc(rights.creator)}</rdf:li></rdf:Seq></dc:creator>",
        '   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">'
        f"{_esc(rights.copyright)}</rdf:li></rdf:Alt></dc:rights>",
        f"   <photoshop:Credit>{_esc(rights.creator)}</photoshop:Credit>",
        f"   <xmpRights:Marked>{'False' if public_domain else 'True'}</xmpRights:Marked>",
        f"   <xmpRights:WebStatement>{_esc(rights.web_statement)}</xmpRights:WebStatement>",
        '   <xmpRights:UsageTerms><rdf:Alt><rdf:li xml:lang="x-default">'
        f"{_esc(usage_terms(rights))}</rdf:li></rdf:Alt></xmpRights:UsageTerms>",
        f"   <plus:DataMining>{_esc(PLUS_VOCAB + code)}</plus:DataMining>",
    ]
    if rights.creator_url:
        lines.append(
            '   <Iptc4xmpCore:CreatorContactInfo rdf:parseType="Resource">'
            f"<Iptc4xmpCore:CiUrlWork>{_esc(rights.creator_url)}</Iptc4xmpCore:CiUrlWork>"
            "</Iptc4xmpCore:CreatorContactInfo>"
        )
    if licence:
        lines.append(f'   <cc:license rdf:resource="{_esc(licence)}"/>')
        lines.append(f"   <cc:attributionName>{_esc(rights.creator)}</cc:attributionName>")
        if rights.web_statement:
            lines.append(f'   <cc:attributionURL rdf:resource="{_esc(rights.web_statement)}"/>')
    lines += [
        "  </rdf:Description>",
        " </rdf:RDF>",
        "</x:xmpmeta>",
        '<?xpacket end="r"?>',
    ]
    return "\n".join(lines).encode("utf-8")


def exif_bytes(rights: Rights) -> bytes:
    """EXIF Artist and Copyright for JPEG derivatives (XMP is the authoritative copy)."""
    exif = Image.Exif()
    # EXIF ASCII fields: UTF-8 bytes, as ExifTool writes them; XMP is the authoritative copy.
    exif[_EXIF_ARTIST] = _xml_safe(rights.creator).encode("utf-8")
    exif[_EXIF_COPYRIGHT] = _xml_safe(rights.copyright).encode("utf-8")
    return exif.tobytes()
