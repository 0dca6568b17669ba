"""Provenance signals: what an uploaded file says about how it was made.

Reads the ORIGINAL upload bytes (JPEG, PNG, WebP, GIF) and reports claims of AI generation:

- ``c2pa``: a C2PA manifest (any manifest in the store, ingredients included) whose actions
  or metadata declare digitalSourceType trainedAlgorithmicMedia or
  compositeWithTrainedAlgorithmicMedia. An untrusted or invalid signature still counts as a
  claim; the evidence records the validation state.
- ``xmp-digital-source-type``: IPTC ``Iptc4xmpExt:DigitalSourceType`` in the XMP packet.
- ``png-text`` / ``exif``: generator metadata (AUTOMATIC1111 "parameters", ComfyUI
  prompt/workflow, InvokeAI, Fooocus, NovelAI, generator names in Software...).
- ``stealth-pnginfo``: AUTOMATIC1111/NovelAI settings hidden in the pixels' low bits.

Every AI claim found is a definitive signal: the file itself says it. Absence proves nothing
(metadata is trivially stripped), so nothing here ever says "human".

Containers are walked with ``cara.imaging.containers`` (the sniffer and walkers upload
validation uses) rather than with ``Image.open``: that decodes no pixels, finds PNG text
placed after the image data, never warns about image size, and lets a truncated or malformed
file yield whatever was readable (CRCs are not checked: a claim is a claim). Only
the stealth check looks at pixels, and only at the few it needs. Nothing in this module
raises on bad input.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from cara.aifilter.signals import Signal
from cara.imaging.containers import (
    MIME_TYPES,
    ContainerError,
    jpeg_segments,
    png_chunks,
    sniff_format,
    webp_chunks,
)

logger = logging.getLogger(__name__)

C2PA = "c2pa"
XMP = "xmp-digital-source-type"
PNG_TEXT = "png-text"
EXIF = "exif"
STEALTH = "stealth-pnginfo"

# IPTC digital source types that mean "made by generative AI" (last URI path segment).
# "algorithmicMedia" alone (procedural, non-trained) is deliberately NOT here.
_TRAINED = "trainedalgorithmicmedia"
AI_SOURCE_TYPES = frozenset({_TRAINED, "compositewithtrainedalgorithmicmedia"})

_MAX_TEXT = 2 * 1024 * 1024  # per decompressed text chunk; generator JSON is far smaller
_MAX_EVIDENCE = 3  # items named per signal; the artist needs the gist, not a dump
_STEALTH_MAX_PIXELS = 40_000_000  # full decode only below this (Pillow warns at ~89M)
_STEALTH_MAX_PAYLOAD = 1024 * 1024


# --------------------------------------------------------------------------- containers


@dataclass
class PngLayout:
    """What the stealth check needs from a PNG: its header and where the image data lies."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    interlaced: bool
    idat: list[tuple[int, int]] = field(default_factory=list)  # (start, end) byte offsets


@dataclass
class Metadata:
    """Metadata read from the container, without decoding pixels."""

    format: str | None = None  # "JPEG" | "PNG" | "WEBP" | "GIF" (containers.sniff_format)
    xmp: list[str] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)  # PNG tEXt/zTXt/iTXt
    exif: list[tuple[str, Image.Exif]] = field(default_factory=list)  # (where, parsed)
    png: PngLayout | None = None
    size: tuple[int, int] = (0, 0)  # from the header, when known
    has_alpha: bool = False
    lossless: bool = False  # WebP VP8L: pixel low bits survive


def read_metadata(data: bytes) -> Metadata:
    """Walk the container and collect XMP, text chunks and EXIF. Never raises."""
    meta = Metadata(format=sniff_format(data))
    reader = {"JPEG": _read_jpeg, "PNG": _read_png, "WEBP": _read_webp, "GIF": _read_gif}
    if meta.format:
        try:
            reader[meta.format](data, meta)
        except ContainerError as exc:  # damage ends the walk; what came before it stands
            logger.debug("damaged %s container: %s", meta.format, exc.reason)
        except Exception:  # keep whatever was read before the damage
            logger.warning("reading %s metadata failed", meta.format, exc_info=True)
    return meta


def _add_exif(meta: Metadata, where: str, raw: bytes) -> None:
    try:
        exif = Image.Exif()
        exif.load(raw)
    except Exception as exc:  # malformed EXIF is common and harmless: skip it
        logger.debug("unreadable EXIF in %s: %s", where, exc)
        return
    meta.exif.append((where, exif))


def _read_jpeg(data: bytes, meta: Metadata) -> None:
    for marker, offset, length in jpeg_segments(data, partial=True):
        if marker in (0xD9, 0xDA):  # EOI / start of scan: metadata only comes before
            return
        if marker == 0xE1:
            body = data[offset : offset + length]
            if body.startswith(b"Exif\x00\x00"):
                _add_exif(meta, "EXIF", body[6:])
            elif body.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
                meta.xmp.append(body[29:].decode("utf-8", "replace"))
            elif body.startswith(b"http://ns.adobe.com/xmp/extension/\x00"):
                # Extended XMP: GUID(32) + full length(4) + offset(4), then a packet slice.
                meta.xmp.append(body[35 + 40 :].decode("utf-8", "replace"))


def _inflate(buf: bytes, limit: int = _MAX_TEXT, wbits: int = 15) -> bytes:
    """Bounded zlib decompression (a tiny chunk can inflate to gigabytes)."""
    return zlib.decompressobj(wbits).decompress(buf, limit)


def _read_png(data: bytes, meta: Metadata) -> None:
    idat: list[tuple[int, int]] = []
    for ctype, start, length in png_chunks(data, partial=True):
        end = start + length
        if end > len(data):  # truncated chunk: what came before is still good
            break
        if ctype == b"IDAT":
            idat.append((start, end))
            continue
        if ctype == b"IEND":
            break
        body = data[start:end]
        try:
            if ctype == b"IHDR" and length == 13:
                w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
                meta.png = PngLayout(w, h, depth, color, interlace != 0, idat)
                meta.size = (w, h)
                meta.has_alpha = color in (4, 6)
            elif ctype == b"tRNS":
                meta.has_alpha = True
            elif ctype == b"tEXt":
                key, _, value = body.partition(b"\x00")
                _add_text(meta, key.decode("latin-1"), value[:_MAX_TEXT].decode("latin-1"))
            elif ctype == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                _add_text(meta, key.decode("latin-1"), _inflate(rest[1:]).decode("latin-1"))
            elif ctype == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                compressed = rest[:1] == b"\x01"
                _lang, _, rest = rest[2:].partition(b"\x00")
                _translated, _, text = rest.partition(b"\x00")
                raw = _inflate(text) if compressed else text[:_MAX_TEXT]
                _add_text(meta, key.decode("latin-1"), raw.decode("utf-8", "replace"))
            elif ctype == b"eXIf":
                _add_exif(meta, "EXIF", body)
        except (zlib.error, struct.error, ValueError) as exc:
            logger.debug("skipping damaged PNG %r chunk: %s", ctype, exc)


def _add_text(meta: Metadata, key: str, value: str) -> None:
    if key == "XML:com.adobe.xmp":
        meta.xmp.append(value)
        return
    if key.startswith("Raw profile type ") and key[17:].lower() in ("exif", "app1"):
        # ImageMagick/GIMP store EXIF as hex text: "\nexif\n   <len>\n<hex lines>".
        lines = value.strip().split("\n", 2)
        if len(lines) == 3:
            try:
                _add_exif(meta, "EXIF", bytes.fromhex("".join(lines[2].split())))
            except ValueError:
                pass
        return
    meta.texts.append((key, value))


def _read_webp(data: bytes, meta: Metadata) -> None:
    for fourcc, offset, size in webp_chunks(data, partial=True):
        body = data[offset : offset + size]
        if fourcc == b"VP8X" and len(body) >= 10:
            meta.has_alpha = meta.has_alpha or bool(body[0] & 0x10)
            w, h = (int.from_bytes(body[i : i + 3], "little") + 1 for i in (4, 7))
            meta.size = (w, h)
        elif fourcc == b"VP8 " and len(body) >= 10 and meta.size == (0, 0):
            w, h = struct.unpack("<HH", body[6:10])
            meta.size = (w & 0x3FFF, h & 0x3FFF)
        elif fourcc == b"ALPH":
            meta.has_alpha = True
        elif fourcc == b"VP8L":
            meta.lossless = True
            if len(body) >= 5:
                # 14 bits width-1, 14 bits height-1, then the alpha_is_used bit.
                (bits,) = struct.unpack("<I", body[1:5])
                meta.has_alpha = meta.has_alpha or bool(bits >> 28 & 1)
                if meta.size == (0, 0):
                    meta.size = ((bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1)
        elif fourcc == b"EXIF":
            _add_exif(meta, "EXIF", body)
        elif fourcc == b"XMP ":
            meta.xmp.append(body.decode("utf-8", "replace"))


def _read_gif(data: bytes, meta: Metadata) -> None:
    # GIF stores XMP in an application extension whose "sub-blocks" are the raw packet
    # followed by a 258-byte magic trailer; finding the packet text is enough for us. (Not
    # containers.gif_blocks: the search also finds packets in GIFs damaged before them, or
    # written without the sub-block size byte, as some tools do.)
    start = data.find(b"XMP DataXMP")
    if start >= 0:
        stop = data.find(b"</x:xmpmeta>", start, start + _MAX_TEXT)
        stop = stop + 12 if stop >= 0 else min(len(data), start + 65536)
        meta.xmp.append(data[start + 11 : stop].decode("utf-8", "replace"))


# --------------------------------------------------------------------------- helpers


def _clean(text: str, limit: int = 60) -> str:
    """Short, single-line, printable: evidence strings are shown to the artist."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _source_type(value: str) -> str:
    """Last path segment of a digital source type URI, e.g. "trainedAlgorithmicMedia"."""
    return re.split(r"[/#:]", value.strip().rstrip("/"))[-1]


def _join(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    more = len(items) - _MAX_EVIDENCE
    text = "; ".join(items[:_MAX_EVIDENCE])
    return text + (f" (+{more} more)" if more > 0 else "")


# --------------------------------------------------------------------------- C2PA

_C2PA_SETTINGS = {
    # Reading an upload must never make network requests on the uploader's behalf.
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
}
_c2pa_lock = threading.Lock()
_c2pa_context: tuple[int, Any] | None = None


def _c2pa_ctx() -> Any:
    """One c2pa Context per process (recreated after a fork: native handles don't survive)."""
    global _c2pa_context
    with _c2pa_lock:
        if _c2pa_context is None or _c2pa_context[0] != os.getpid():
            import c2pa

            _c2pa_context = (os.getpid(), c2pa.Context.from_dict(_C2PA_SETTINGS))
        return _c2pa_context[1]


def c2pa_signal(data: bytes, fmt: str | None = None) -> Signal | None:
    """Read the C2PA manifest store; an AI claim anywhere in it is a definitive signal."""
    fmt = fmt or sniff_format(data)
    # Every manifest store is a JUMBF box labelled "c2pa": without those bytes there is
    # nothing to read, and most uploads skip the native reader entirely.
    if fmt not in MIME_TYPES or b"c2pa" not in data:
        return None
    import c2pa

    try:
        with io.BytesIO(data) as stream:
            reader = c2pa.Reader.try_create(MIME_TYPES[fmt], stream, None, _c2pa_ctx())
            if reader is None:
                return None
            with reader:
                store = json.loads(reader.json())
                state = reader.get_validation_state()
    except Exception as exc:
        # c2pa-python 0.38 maps the native "Remote: ..." error to plain C2paError, not to
        # C2paError.RemoteManifest, so look at the message too.
        if isinstance(exc, c2pa.C2paError.RemoteManifest) or str(exc).startswith("Remote"):
            # Fetching would make a request on the uploader's behalf (settings forbid it).
            return Signal(C2PA, "unknown", 0.0, "C2PA manifest stored remotely, not fetched")
        logger.info("unreadable C2PA manifest: %s", exc)
        return Signal(C2PA, "unknown", 0.0, "C2PA data present but unreadable")
    return _c2pa_store_signal(store, state)


def _c2pa_trust(store: dict, state: str | None) -> str:
    codes = [s.get("code", "") for s in store.get("validation_status") or [] if isinstance(s, dict)]
    if state == "Trusted":
        return "trusted"
    if state == "Invalid":
        return "invalid"
    if state == "Valid":
        return "untrusted" if any(c.startswith("signingCredential.") for c in codes) else "valid"
    return "unknown"


def _generator_name(manifest: dict) -> str:
    info = manifest.get("claim_generator_info")
    name = ""
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name = str(info[0].get("name") or "")
    if not name:
        name = str(manifest.get("claim_generator") or "").split(" ")[0].split("/")[0]
    return _clean(name.replace("_", " "), 40) or "unknown generator"


def _agent_name(agent: Any) -> str:
    if isinstance(agent, dict):
        agent = agent.get("name", "")
    return _clean(str(agent or ""), 40)


def _find_source_types(node: Any, depth: int = 0) -> list[str]:
    """Every value under a key ending in "digitalSourceType" (Adobe nests it in parameters)."""
    found: list[str] = []
    if depth > 8:
        return found
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and str(key).lower().endswith("digitalsourcetype"):
                found.append(value)
            elif isinstance(value, dict | list):
                found.extend(_find_source_types(value, depth + 1))
    elif isinstance(node, list):
        for item in node:
            found.extend(_find_source_types(item, depth + 1))
    return found


@dataclass(frozen=True)
class _Claim:
    source_type: str
    generator: str
    agent: str
    active: bool


def _c2pa_claims(store: dict) -> tuple[list[_Claim], list[_Claim]]:
    """(AI claims, other source-type claims) across every manifest, active one first."""
    manifests = store.get("manifests") or {}
    if not isinstance(manifests, dict):
        return [], []
    active = store.get("active_manifest")
    order = sorted(manifests, key=lambda label: label != active)
    ai: list[_Claim] = []
    other: list[_Claim] = []
    for label in order:
        manifest = manifests[label]
        if not isinstance(manifest, dict):
            continue
        generator = _generator_name(manifest)
        for assertion in manifest.get("assertions") or []:
            if not isinstance(assertion, dict):
                continue
            data = assertion.get("data")
            actions = data.get("actions") if isinstance(data, dict) else None
            if str(assertion.get("label", "")).startswith("c2pa.actions") and isinstance(
                actions, list
            ):
                # Templates give defaults (digitalSourceType included) to the actions.
                templates = data.get("templates") if isinstance(data, dict) else None
                listed = actions + (templates if isinstance(templates, list) else [])
                units = [a for a in listed if isinstance(a, dict)]
            else:  # e.g. an IPTC metadata assertion carrying Iptc4xmpExt:DigitalSourceType
                units = [data]
            for unit in units:
                agent = _agent_name(unit.get("softwareAgent")) if isinstance(unit, dict) else ""
                for value in _find_source_types(unit):
                    claim = _Claim(_source_type(value), generator, agent, label == active)
                    (ai if claim.source_type.lower() in AI_SOURCE_TYPES else other).append(claim)
    return ai, other


def _c2pa_store_signal(store: dict, state: str | None) -> Signal:
    trust = _c2pa_trust(store, state)
    ai, other = _c2pa_claims(store)
    if ai:
        # What the active manifest says about this very image first, then a fully
        # generated claim over a composite one.
        best = min(ai, key=lambda c: (not c.active, c.source_type.lower() != _TRAINED))
        where = "manifest" if best.active else "ingredient manifest"
        via = f' via "{best.agent}"' if best.agent and best.agent != best.generator else ""
        evidence = (
            f'C2PA {where} "{best.generator}" declares digitalSourceType '
            f"{best.source_type}{via} (signature: {trust})"
        )
        return Signal(C2PA, "ai", 1.0, evidence, definitive=True)
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest")) if isinstance(manifests, dict) else None
    generator = _generator_name(active) if isinstance(active, dict) else "unknown generator"
    declared = sorted({c.source_type for c in other})
    note = f"declares {', '.join(declared)}, not AI" if declared else "makes no AI claim"
    return Signal(C2PA, "unknown", 0.0, f'C2PA manifest "{generator}" {note} (signature: {trust})')


# --------------------------------------------------------------------------- XMP

# Attribute form (Iptc4xmpExt:DigitalSourceType="uri"), element form with rdf:resource, or
# element text; any namespace prefix, and the deprecated DigitalSourceFileType too.
_XMP_DST = re.compile(
    r"""(?:[\w.-]+:)?DigitalSource(?:File)?Type
        (?: \s*=\s*["']([^"']*)["']
          | \b[^>]*?rdf:resource\s*=\s*["']([^"']*)["']
          | \s*>\s*([^<]*)< )""",
    re.IGNORECASE | re.VERBOSE,
)


def xmp_signal(meta: Metadata) -> Signal | None:
    """IPTC DigitalSourceType in any XMP packet of the file."""
    found: list[str] = []
    for packet in meta.xmp:
        if "digitalsource" not in packet.lower():
            continue
        for match in _XMP_DST.finditer(packet):
            value = next((g for g in match.groups() if g), "")
            if _source_type(value).lower() in AI_SOURCE_TYPES:
                found.append(_source_type(value))
    if not found:
        return None
    evidence = f"XMP metadata declares IPTC DigitalSourceType {found[0]}"
    return Signal(XMP, "ai", 1.0, evidence, definitive=True)


# --------------------------------------------------------------------------- generator text

# Names that only AI image generators use. Photoshop, GIMP, Lightroom, Krita... are absent
# by design: editing software says nothing about who made the image. A field counts only when
# it *is* such a name (a Software or Source field as the generator writes it, e.g. "NovelAI" or
# "Stable Diffusion XL C1E1DE52"), not when free text mentions one ("Painted to protest
# Stable Diffusion scraping").
_GENERATOR_NAMES = (
    r"novelai|nai diffusion|midjourney|dall[\s·-]?e(?:\s?[23])?|adobe firefly|"
    r"stable[\s_-]?diffusion|sdxl|comfyui|automatic1111|stable-diffusion-webui|invokeai|"
    r"fooocus|draw things|diffusionbee|dreamstudio|leonardo\.ai|ideogram|craiyon|nightcafe|"
    r"bing image creator|civitai"
)
_GENERATOR_FIELD_RE = re.compile(
    rf"\s*(?:{_GENERATOR_NAMES})\b[\w .:()/+-]{{0,60}}\s*$", re.IGNORECASE
)
# Text keys whose presence alone marks a generator (tool-specific names).
_GENERATOR_KEYS = {
    "dream": "InvokeAI",
    "sd-metadata": "InvokeAI",
    "invokeai_metadata": "InvokeAI",
    "invokeai_graph": "InvokeAI",
    "invokeai_workflow": "InvokeAI",
    "fooocus_scheme": "Fooocus",
    "generation_data": "generator",
}
# AUTOMATIC1111's parameters line, as Forge, SD.Next and Civitai write it too:
# "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model hash: ...".
_A1111_LINE = re.compile(r"^Steps: \d+, .*\bSeed: \d+\b", re.MULTILINE)
_A1111_SAMPLING = re.compile(r"(?:^|, )(?:Sampler: [^,\n]+|CFG scale: \d+(?:\.\d+)?)(?:,|$)", re.M)
_STEP_KEYS = ("steps", "num_inference_steps", "ddim_steps")
_SAMPLER_KEYS = ("sampler", "sampler_name")
_SCALE_KEYS = ("cfg", "cfg_scale", "scale", "guidance_scale")
# Where generators nest their settings: {"image": {...}}, NovelAI's {"Comment": "{...}"}...
_NESTED_KEYS = ("image", "metadata", "parameters", "params", "comment")
_MIDJOURNEY_JOB = re.compile(r"Job ID:\s*[0-9a-f]{8}-[0-9a-f]{4}-", re.IGNORECASE)


def _named_generator(value: str) -> str | None:
    """The generator a Software/Source field names, or None for anything else."""
    if _GENERATOR_FIELD_RE.match(value):
        return re.match(rf"\s*({_GENERATOR_NAMES})", value, re.IGNORECASE)[1]
    return None


def _load_json(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sampling_settings(obj: dict) -> bool:
    """A dict of a generator's sampling settings: integer steps and seed, and a sampler or a
    guidance scale. Free-form notes such as {"steps": ["sketch", "ink"], "seed": "idea"} are not."""
    lower = {str(k).lower(): v for k, v in obj.items()}
    steps = next((lower[k] for k in _STEP_KEYS if k in lower), None)
    seed = lower.get("seed")
    seed_ok = (_is_number(seed) and float(seed).is_integer()) or (
        isinstance(seed, str) and seed.isdigit()
    )
    sampler = any(isinstance(lower.get(k), str) and lower[k].strip() for k in _SAMPLER_KEYS)
    scale = any(_is_number(lower.get(k)) for k in _SCALE_KEYS)
    return isinstance(steps, int) and not isinstance(steps, bool) and seed_ok and (sampler or scale)


def _comfy_kind(obj: dict) -> str | None:
    """ComfyUI's API prompt (node id -> {class_type, inputs}; other keys, such as Civitai's
    "extra" and "extraMetadata", may sit beside the nodes) or its UI workflow graph."""
    nodes = [v for v in obj.values() if isinstance(v, dict)]
    if nodes and (
        all("class_type" in v for v in nodes)
        or any("class_type" in v and isinstance(v.get("inputs"), dict) for v in nodes)
    ):
        return "ComfyUI prompt"
    if isinstance(obj.get("nodes"), list) and "links" in obj:
        return "ComfyUI workflow"
    return None


def _json_kind(text: str) -> str | None:
    """Recognise generator JSON: a ComfyUI prompt or workflow (bare, or wrapped as
    {"prompt": ..., "workflow": ...} by ComfyUI's JPEG/WebP savers), or sampling settings."""
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return None
    try:
        obj = json.loads(stripped)
    except ValueError:
        # Oversized (capped) text: fall back to ComfyUI's unmistakable keys.
        if '"class_type"' in stripped and '"inputs"' in stripped:
            return "ComfyUI prompt"
        return None
    if not isinstance(obj, dict):
        return None
    for candidate in (obj, _load_json(obj.get("prompt")), _load_json(obj.get("workflow"))):
        if isinstance(candidate, dict) and (kind := _comfy_kind(candidate)):
            return kind
    if "sui_image_params" in obj:
        return "SwarmUI generation settings"
    lower = {str(k).lower(): v for k, v in obj.items()}
    for candidate in [obj, *(_load_json(lower.get(k)) for k in _NESTED_KEYS)]:
        if isinstance(candidate, dict) and _sampling_settings(candidate):
            return "generation settings"
    return None


def _generation_text(text: str) -> str | None:
    """What kind of generator output ``text`` is, or None for ordinary text."""
    if (line := _A1111_LINE.search(text)) and _A1111_SAMPLING.search(line[0]):
        return "AUTOMATIC1111 generation settings"
    if _MIDJOURNEY_JOB.search(text):
        return "Midjourney job"
    return _json_kind(text)


def generator_text_signal(meta: Metadata) -> Signal | None:
    """PNG text chunks written by image generators."""
    found: list[str] = []
    for key, value in meta.texts:
        if not value.strip():
            continue
        lowered = key.lower()
        if lowered in _GENERATOR_KEYS:
            found.append(f'PNG text chunk "{_clean(key, 30)}" ({_GENERATOR_KEYS[lowered]})')
        elif lowered in ("software", "source") and (name := _named_generator(value)):
            found.append(f'PNG {key} "{_clean(value, 40)}" names an AI generator ({name})')
        elif lowered == "title" and value.strip().lower() == "ai generated image":
            found.append('PNG Title "AI generated image" (NovelAI)')
        elif kind := _generation_text(value):
            found.append(f'PNG text chunk "{_clean(key, 30)}" ({kind})')
    if not found:
        return None
    return Signal(PNG_TEXT, "ai", 1.0, _join(found), definitive=True)


_EXIF_IFD = 0x8769
_TEXT_TAGS = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x013B: "Artist"}
_SOFTWARE_TAGS = {0x0131: "Software", 0x000B: "ProcessingSoftware"}
_USER_COMMENT = 0x9286
_XP_COMMENT = 0x9C9C


def _user_comment(raw: Any) -> str:
    """Decode EXIF UserComment: 8-byte charset prefix, then the text."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes):
        return ""
    head, body = raw[:8], raw[8:]
    if head == b"UNICODE\x00":
        # The charset says UTF-16 but not the byte order; an ASCII-range first character
        # shows which byte is zero.
        be = len(body) > 1 and body[0] == 0 and body[1] != 0
        return body.decode("utf-16-be" if be else "utf-16-le", "replace")
    if head in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        return body.decode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def _exif_texts(exif: Image.Exif) -> list[tuple[str, str]]:
    texts = [(name, exif.get(tag)) for tag, name in _TEXT_TAGS.items()]
    try:
        ifd = exif.get_ifd(_EXIF_IFD)
    except Exception:  # a broken sub-IFD pointer
        ifd = {}
    texts.append(("UserComment", _user_comment(ifd.get(_USER_COMMENT))))
    # ComfyUI's JPEG/WebP saver nodes write their JSON as UserComment in the main IFD.
    texts.append(("UserComment (main IFD)", _user_comment(exif.get(_USER_COMMENT))))
    xp = exif.get(_XP_COMMENT)
    if isinstance(xp, bytes | tuple):
        texts.append(("XPComment", bytes(xp).decode("utf-16-le", "replace").rstrip("\x00")))
    return [(k, v.strip("\x00 ")) for k, v in texts if isinstance(v, str) and v.strip("\x00 ")]


def exif_signal(meta: Metadata) -> Signal | None:
    """EXIF written by generators: settings in UserComment, ComfyUI JSON in Make/Model,
    a generator in Software."""
    found: list[str] = []
    for _where, exif in meta.exif:
        for tag, name in _SOFTWARE_TAGS.items():
            value = exif.get(tag)
            if isinstance(value, str) and (generator := _named_generator(value)):
                found.append(
                    f'EXIF {name} "{_clean(value, 40)}" names an AI generator ({generator})'
                )
        for name, value in _exif_texts(exif):
            # ComfyUI's WebP/AVIF savers write "workflow:{...}" / "prompt:{...}" into
            # Make, Model or ImageDescription.
            label, sep, rest = value.partition(":")
            if sep and label.strip().lower() in ("workflow", "prompt") and (k := _json_kind(rest)):
                found.append(f"EXIF {name} holds a {k}")
            elif kind := _generation_text(value):
                found.append(f"EXIF {name} ({kind})")
    if not found:
        return None
    return Signal(EXIF, "ai", 1.0, _join(found), definitive=True)


# --------------------------------------------------------------------------- stealth pnginfo

# The A1111 stealth-pnginfo extension writes a 15-byte signature, a 32-bit big-endian payload
# length in bits, then the payload (gzip for *comp), into the lowest bit of alpha ("png") or
# of R, G, B in turn ("rgb"), visiting pixels column by column (x outer, y inner), MSB first.
_STEALTH_SIGNATURES = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
_SIG_BITS = 15 * 8


def stealth_signal(data: bytes, meta: Metadata) -> Signal | None:
    """Look for stealth pnginfo, reading only the pixels the signature needs when possible."""
    fmt = meta.format
    if fmt == "PNG" and meta.png and meta.png.color_type in (2, 6) and meta.png.bit_depth == 8:
        column = _png_first_column(data, meta.png)
        if column is not None:  # the signature lies in the first column: check it there
            column = column[:, None, :]  # (rows, 1, C): a one-column image
            if not (
                _signature(_lsb_stream(column, "alpha")) or _signature(_lsb_stream(column, "rgb"))
            ):
                return None
    elif not (fmt == "WEBP" and (meta.has_alpha or meta.lossless)):
        return None  # lossy pixels (JPEG, lossy WebP RGB) cannot carry low-bit data
    if meta.size[0] * meta.size[1] > _STEALTH_MAX_PIXELS:
        return None
    pixels = _decode_pixels(data)
    if pixels is None:
        return None
    found = _signature(_lsb_stream(pixels, "alpha")) or _signature(_lsb_stream(pixels, "rgb"))
    if found is None:
        return None
    signature, channel, compressed = found
    payload = _stealth_payload(pixels, channel, compressed)
    where = "alpha channel" if channel == "alpha" else "colour channels"
    kind = _generation_text(payload) if payload else None
    evidence = (
        f'Generation metadata hidden in the {where} ("{signature}", {_stealth_writer(payload)})'
    )
    if kind:
        evidence += f": {kind}"
    return Signal(STEALTH, "ai", 1.0, evidence, definitive=True)


def _stealth_writer(payload: str) -> str:
    """Who hid the data: NovelAI's images carry JSON naming it; otherwise the A1111 extension
    (whose format NovelAI adopted)."""
    info = _load_json(payload) if payload else None
    if isinstance(info, dict):
        software = str(info.get("Software") or info.get("software") or "")
        if (_named_generator(software) or "").lower() in ("novelai", "nai diffusion"):
            return "NovelAI"
    return "A1111 stealth pnginfo"


def _png_first_column(data: bytes, png: PngLayout) -> np.ndarray | None:
    """Pixels of column 0, rows 0..119, of an 8-bit RGB(A) PNG, from the first scanlines only.

    Column-major order puts the whole signature in column 0 when the image is at least 120
    pixels high. Inflating the first 120 scanlines and undoing the filters of their first
    pixel (which depends only on the pixel above) avoids decoding the image. Returns None when
    this shortcut does not apply (short or interlaced image, damaged data).
    """
    rows = _SIG_BITS if png.color_type == 6 else _SIG_BITS // 3
    if png.interlaced or png.height < rows or png.width == 0:
        return None
    bpp = 4 if png.color_type == 6 else 3
    stride = 1 + png.width * bpp
    need = rows * stride
    inflater = zlib.decompressobj()
    raw = bytearray()
    view = memoryview(data)
    try:
        for start, end in png.idat:
            for off in range(start, end, 65536):  # small slices keep unconsumed_tail small
                raw += inflater.decompress(view[off : min(off + 65536, end)], need - len(raw))
                if len(raw) >= need:
                    break
            if len(raw) >= need:
                break
    except zlib.error:
        return None
    if len(raw) < need:
        return None
    out = np.zeros((rows, bpp), dtype=np.uint8)
    above = [0] * bpp
    for y in range(rows):
        line = raw[y * stride : y * stride + 1 + bpp]
        ftype, px = line[0], list(line[1:])
        if ftype in (2, 4):  # Up; Paeth with no left neighbour predicts the pixel above
            px = [(v + a) & 0xFF for v, a in zip(px, above, strict=True)]
        elif ftype == 3:  # Average with a zero left neighbour
            px = [(v + (a >> 1)) & 0xFF for v, a in zip(px, above, strict=True)]
        elif ftype > 4:
            return None
        out[y] = px  # None (0) and Sub (1) leave the first pixel as stored
        above = px
    return out


def _decode_pixels(data: bytes) -> np.ndarray | None:
    """Full decode as (H, W, 3|4) uint8, or None when not possible or too large."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "WEBP"]) as img:
            if img.width * img.height > _STEALTH_MAX_PIXELS or img.mode not in ("RGB", "RGBA"):
                return None
            img.load()
            return np.asarray(img)
    except Exception as exc:  # truncated or corrupt pixels: no stealth data to read
        logger.debug("stealth check could not decode pixels: %s", exc)
        return None


def _lsb_stream(pixels: np.ndarray, channel: str) -> np.ndarray:
    """Low bits of ``pixels`` (H, W, C) in the extension's order: column by column."""
    if channel == "alpha":
        if pixels.shape[2] != 4:
            return np.zeros(0, dtype=np.uint8)
        return pixels[:, :, 3].T.reshape(-1) & 1
    return pixels[:, :, :3].transpose(1, 0, 2).reshape(-1) & 1


def _signature(bits: np.ndarray) -> tuple[str, str, bool] | None:
    if len(bits) < _SIG_BITS:
        return None
    head = np.packbits(bits[:_SIG_BITS]).tobytes()
    found = _STEALTH_SIGNATURES.get(head)
    return (head.decode(), *found) if found else None


def _stealth_payload(pixels: np.ndarray, channel: str, compressed: bool) -> str:
    bits = _lsb_stream(pixels, channel)[_SIG_BITS:]
    if len(bits) < 32:
        return ""
    length = int.from_bytes(np.packbits(bits[:32]).tobytes(), "big")
    if length == 0 or length > min(len(bits) - 32, _STEALTH_MAX_PAYLOAD * 8):
        return ""
    raw = np.packbits(bits[32 : 32 + length]).tobytes()
    try:
        raw = _inflate(raw, _STEALTH_MAX_PAYLOAD, wbits=31) if compressed else raw
    except zlib.error:
        return ""
    return raw.decode("utf-8", "replace")


# --------------------------------------------------------------------------- entry point


def _guarded(name: str, fn: Callable[..., Signal | None], *args: Any) -> list[Signal]:
    try:
        signal = fn(*args)
    except Exception:  # one broken reader must not hide the others' findings
        logger.warning("provenance check %s failed", name, exc_info=True)
        return []
    return [signal] if signal is not None else []


def provenance_signals(data: bytes) -> list[Signal]:
    """Every provenance signal in the ORIGINAL upload bytes. Never raises on bad input."""
    data = bytes(data)
    meta = read_metadata(data)
    if meta.format is None:
        return []
    signals: list[Signal] = []
    signals += _guarded(C2PA, c2pa_signal, data, meta.format)
    signals += _guarded(XMP, xmp_signal, meta)
    signals += _guarded(PNG_TEXT, generator_text_signal, meta)
    signals += _guarded(EXIF, exif_signal, meta)
    signals += _guarded(STEALTH, stealth_signal, data, meta)
    return signals
