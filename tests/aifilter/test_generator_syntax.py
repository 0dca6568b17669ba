"""Provenance rules match what generators actually write, not words (issue 14).

The layouts come from the generators' own savers: ComfyUI's JPEG/WebP nodes put
{"prompt": ..., "workflow": ...} into EXIF UserComment of the main IFD, Civitai's generator
adds "extra"/"extraMetadata" beside ComfyUI's nodes, NovelAI hides JSON in the alpha channel.
The false-positive probes are human images whose text merely resembles generator output.
"""

import gzip
import io
import json
import struct

import pytest
from PIL import Image, PngImagePlugin

from cara.aifilter.provenance import provenance_signals

COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20, "cfg": 7.0}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
}
COMFY_WORKFLOW = {"nodes": [{"id": 3, "type": "KSampler"}], "links": [[1, 3, 0, 4, 0]]}
NOVELAI_COMMENT = {
    "prompt": "a lighthouse at dusk",
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5.0,
    "seed": 1234567,
    "sampler": "k_euler_ancestral",
}


def _ai(data: bytes) -> list:
    return [s for s in provenance_signals(data) if s.verdict == "ai"]


def _jpeg_main_ifd_comment(text: str, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x9286] = b"UNICODE\x00" + text.encode("utf-16-be")  # main IFD, as ComfyUI writes it
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "teal").save(buf, fmt, exif=exif)
    return buf.getvalue()


def _png(**text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
@pytest.mark.parametrize(
    "payload",
    [
        {"prompt": COMFY_PROMPT, "workflow": COMFY_WORKFLOW},  # the saver's wrapper, as objects
        {"prompt": json.dumps(COMFY_PROMPT), "workflow": json.dumps(COMFY_WORKFLOW)},  # as text
        COMFY_PROMPT,  # without the wrapper
    ],
)
def test_comfyui_json_in_main_ifd_user_comment(fmt: str, payload: dict) -> None:
    (signal,) = _ai(_jpeg_main_ifd_comment(json.dumps(payload), fmt))
    assert signal.name == "exif" and "ComfyUI" in signal.evidence


def test_comfyui_in_xp_comment() -> None:
    exif = Image.Exif()
    exif[0x9C9C] = json.dumps({"prompt": COMFY_PROMPT}).encode("utf-16-le")
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, "JPEG", exif=exif)
    (signal,) = _ai(buf.getvalue())
    assert "XPComment" in signal.evidence and "ComfyUI prompt" in signal.evidence


def test_civitai_prompt_with_extra_keys() -> None:
    civitai = {
        **COMFY_PROMPT,
        "extra": {"airs": ["urn:air:sdxl:checkpoint:civitai:101055@128078"]},
        "extraMetadata": json.dumps({"prompt": "a lighthouse", "steps": 20}),
    }
    (signal,) = _ai(_png(prompt=json.dumps(civitai)))
    assert "ComfyUI prompt" in signal.evidence


def test_civitai_parameters_line() -> None:
    text = (
        "a lighthouse at dusk\nNegative prompt: blurry\nSteps: 25, Sampler: DPM++ 2M, "
        "Schedule type: Karras, CFG scale: 5, Seed: 811, Size: 832x1216, "
        'Civitai resources: [{"type":'
        '"checkpoint","modelVersionId":128078}]'
    )
    (signal,) = _ai(_png(parameters=text))
    assert "AUTOMATIC1111" in signal.evidence


def _novelai_stealth_png() -> bytes:
    """NovelAI's layout: gzip JSON behind "stealth_pngcomp" in the alpha channel's low bits."""
    info = {
        "Description": "a lighthouse",
        "Software": "NovelAI",
        "Source": "Stable Diffusion XL C1E1DE52",
        "Comment": json.dumps(NOVELAI_COMMENT),
    }
    payload = gzip.compress(json.dumps(info).encode())
    data = b"stealth_pngcomp" + struct.pack(">I", len(payload) * 8) + payload
    bits = [byte >> (7 - i) & 1 for byte in data for i in range(8)]
    side = 128
    img = Image.new("RGBA", (side, side), (200, 180, 160, 255))
    px = img.load()
    it = iter(bits)
    for x in range(side):
        for y in range(side):
            bit = next(it, None)
            if bit is None:
                break
            r, g, b, a = px[x, y]
            px[x, y] = (r, g, b, (a & ~1) | bit)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_novelai_alpha_data_is_named_novelai() -> None:
    (signal,) = _ai(_novelai_stealth_png())
    assert signal.name == "stealth-pnginfo"
    assert "NovelAI" in signal.evidence and "A1111" not in signal.evidence
    assert "generation settings" in signal.evidence  # the Comment JSON was read too


# --- false-positive probes: human art whose text looks like generator words ---------------


@pytest.mark.parametrize(
    "text",
    [
        {"Description": "Process - Steps: sketch, ink, colour. Seed: idea from a dream."},
        {"Source": "Painted to protest Stable Diffusion scraping"},
        {"Software": "Krita 5.2 (made while reading about Midjourney lawsuits)"},
        {"Comment": json.dumps({"steps": ["sketch", "ink", "flat colour"], "seed": "idea"})},
        {"Comment": json.dumps({"steps": 3, "seed": "a walk by the sea", "notes": "gouache"})},
        {"Description": "Steps: 4 hours, Seed: none, Sampler: my brother"},
        {"Comment": json.dumps({"nodes": "three figures", "workflow": "pencil then ink"})},
    ],
)
def test_human_text_resembling_generator_output_is_not_flagged(text: dict[str, str]) -> None:
    assert _ai(_png(**text)) == []


def test_human_exif_comment_mentioning_comfyui_is_not_flagged() -> None:
    data = _jpeg_main_ifd_comment("Drawn by hand; I never used ComfyUI or Stable Diffusion.")
    assert _ai(data) == []
