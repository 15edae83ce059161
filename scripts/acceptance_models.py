"""The models ``scripts/acceptance.py`` runs archscope on, and how each is built and fed.

Every model is a :class:`Case`. Its builder is also registered as an attribute of this
module (``Case.key``), so archscope is given the import path ``acceptance_models:<key>``
and builds the model itself, under the device it traces on (``torch.device("meta")``
first, the CPU when the model cannot run on meta), exactly as the CLI does for
``package.module:attr``. Each builder seeds torch first, so a model built again for the
reference (on the CPU) has the same weights as the one archscope built: detection models
then keep the same proposals, and the same operators run.

Nothing downloads: torchvision builders get ``weights=None`` (and ``weights_backbone=None``
where they take it), timm ``pretrained=False``, transformers models are made from small
configs (2 layers), with ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` set.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402


@dataclass
class Case:
    family: str  # torchvision, timm, transformers
    category: str  # torchvision: classification, detection, ...; timm: its family; transformers: the architecture
    name: str  # shown in the table
    key: str  # attribute of this module: archscope traces "acceptance_models:<key>"
    build: Callable[[], nn.Module]  # seeded, no arguments; called under the device it builds on
    trace_kwargs: Callable[[], dict[str, Any]] = dict  # what archscope.trace is given besides the target
    expect_source: str | None = None  # a phrase t.inputs.source must contain (inputs archscope read itself)
    extra: dict[str, Any] = field(default_factory=dict)


SEED = 0
_THIS = sys.modules[__name__]


def _seeded(fn: Callable[[], nn.Module], name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        torch.manual_seed(SEED)
        return fn()

    build.__name__ = build.__qualname__ = name
    return build


def _register(case: Case) -> Case:
    setattr(_THIS, case.key, case.build)
    return case


def _key(prefix: str, name: str) -> str:
    return prefix + "".join(c if c.isalnum() else "_" for c in name)


# ---------------------------------------------------------------- torchvision

VIDEO_224 = {"mvit_v1_b", "mvit_v2_s", "s3d"}


def _tv_kwargs(name: str, **extra: Any) -> dict[str, Any]:
    import torchvision

    builder = torchvision.models.get_model_builder(name)
    params = inspect.signature(builder).parameters
    kw: dict[str, Any] = {"weights": None}
    if "weights_backbone" in params:
        kw["weights_backbone"] = None
    kw.update(extra)
    return kw


def _tv_case(category: str, name: str, trace_kwargs: Callable[[], dict[str, Any]], label: str | None = None,
             **extra: Any) -> Case:
    import torchvision

    kw = _tv_kwargs(name, **extra)
    label = label or name
    key = _key("tv_", label)
    info: dict[str, Any] = {"builder_kwargs": dict(kw)}
    if kw.get("quantize"):  # FlopCounterMode has no formulas for quantized ops: the float model is the reference
        float_kw = dict(kw, quantize=False)
        info["float_reference"] = _seeded(lambda: torchvision.models.get_model(name, **float_kw), key + "_float")
    return _register(Case("torchvision", category, label, key,
                          _seeded(lambda: torchvision.models.get_model(name, **kw), key), trace_kwargs, extra=info))


def _detection_input() -> dict[str, Any]:
    g = torch.Generator().manual_seed(SEED)
    return {"input_data": ([torch.rand(3, 320, 320, generator=g)],)}


def torchvision_cases() -> list[Case]:
    import torchvision
    from torchvision import models as M

    sub = {cat: set(M.list_models(module=getattr(M, mod))) for cat, mod in
           (("detection", "detection"), ("segmentation", "segmentation"), ("video", "video"),
            ("optical_flow", "optical_flow"), ("quantization", "quantization"))}
    cases: list[Case] = []
    for name in torchvision.models.list_models():
        cat = next((c for c, names in sub.items() if name in names), "classification")
        if cat == "classification":
            size = 299 if name == "inception_v3" else 224
            cases.append(_tv_case(cat, name, lambda s=size: {"input_size": (3, s, s)}))
        elif cat == "video":
            side = 224 if name in VIDEO_224 else 112
            cases.append(_tv_case(cat, name, lambda s=side: {"input_size": (3, 16, s, s)}))
        elif cat == "optical_flow":
            cases.append(_tv_case(cat, name, lambda: {"input_size": [(3, 128, 128), (3, 128, 128)]}))
        elif cat == "segmentation":
            cases.append(_tv_case(cat, name, lambda: {"input_size": (3, 224, 224)}))
        elif cat == "detection":
            cases.append(_tv_case(cat, name, _detection_input))
        else:  # quantization: the float model (quantize=False) and the quantized one (CPU only)
            size = 299 if name == "quantized_inception_v3" else 224
            for quantize in (False, True):
                cases.append(_tv_case(cat, name, lambda s=size: {"input_size": (3, s, s)},
                                      label=f"{name}(quantize={quantize})", quantize=quantize))
    return cases


# ---------------------------------------------------------------- timm

# The smallest variant of each family (by parameters, built on meta with pretrained=False),
# and resnet18 / resnet50 beside the smallest ResNet.
TIMM_MODELS: list[tuple[str, str]] = [
    ("resnet", "resnet18"), ("resnet", "resnet10t"), ("resnetv2", "resnetv2_18"), ("resnext", "resnext26ts"),
    ("seresnet", "legacy_seresnet18"), ("efficientnet", "efficientnet_b0"), ("efficientnetv2", "efficientnetv2_rw_t"),
    ("mobilenetv3", "mobilenetv3_small_050"), ("mobilenetv4", "mobilenetv4_conv_small_035"),
    ("convnext", "convnext_zepto_rms"), ("convnextv2", "convnextv2_atto"), ("vit", "vit_tiny_patch16_224"),
    ("vit_hybrid", "vit_tiny_r_s16_p8_224"), ("deit", "deit_tiny_patch16_224"), ("deit3", "deit3_small_patch16_224"),
    ("swin", "swin_tiny_patch4_window7_224"), ("swinv2", "swinv2_tiny_window8_256"), ("maxvit", "maxvit_pico_rw_256"),
    ("coatnet", "coatnet_pico_rw_224"), ("regnet", "regnetx_002"), ("regnet", "regnety_002"),
    ("regnetz", "regnetz_005"),
    ("rexnet", "rexnet_100"), ("densenet", "densenet121"), ("dpn", "dpn48b"), ("inception", "inception_v3"),
    ("inception", "inception_v4"), ("inception_resnet", "inception_resnet_v2"), ("xception", "xception41p"),
    ("nfnet", "eca_nfnet_l0"), ("levit", "levit_128s"), ("mixer", "mixer_s16_224"), ("resmlp", "resmlp_12_224"),
    ("gmlp", "gmlp_ti16_224"), ("poolformer", "poolformer_s12"), ("poolformerv2", "poolformerv2_s12"),
    ("metaformer", "caformer_s18"), ("edgenext", "edgenext_xx_small"), ("efficientformer", "efficientformer_l1"),
    ("efficientformerv2", "efficientformerv2_s0"), ("mobilevit", "mobilevit_xxs"), ("mobilevitv2", "mobilevitv2_050"),
    ("ghostnet", "ghostnet_050"), ("ghostnetv2", "ghostnetv2_100"), ("hrnet", "hrnet_w18_small"),
    ("res2net", "res2net50_14w_8s"), ("resnest", "resnest14d"), ("sknet", "skresnet18"), ("tresnet", "tresnet_m"),
    ("cspnet", "cspresnet50"), ("cspnet", "cs3darknet_focus_s"), ("darknet", "darknet17"), ("dla", "dla46x_c"),
    ("hardcorenas", "hardcorenas_b"), ("mnasnet", "mnasnet_small"), ("fbnet", "fbnetc_100"), ("lcnet", "lcnet_035"),
    ("tinynet", "tinynet_e"), ("mixnet", "mixnet_s"), ("spnasnet", "spnasnet_100"), ("beit", "beit_base_patch16_224"),
    ("cait", "cait_xxs24_224"), ("crossvit", "crossvit_tiny_240"), ("pit", "pit_ti_224"),
    ("tnt", "tnt_s_legacy_patch16_224"), ("twins", "twins_svt_small"), ("visformer", "visformer_tiny"),
    ("volo", "volo_d1_224"), ("xcit", "xcit_nano_12_p8_224"), ("gcvit", "gcvit_xxtiny"), ("davit", "davit_tiny"),
    ("eva", "eva02_tiny_patch14_224"), ("fastvit", "fastvit_t8"), ("repvit", "repvit_m1"),
    ("efficientvit", "efficientvit_b0"), ("efficientvit", "efficientvit_m0"), ("hiera", "hiera_tiny_224"),
    ("convmixer", "convmixer_768_32"), ("vgg", "vgg11"), ("mobileone", "mobileone_s1"), ("repvgg", "repvgg_a0"),
    ("nest", "nest_tiny"), ("sequencer", "sequencer2d_s"), ("coat", "coat_tiny"), ("convit", "convit_tiny"),
    ("pvt_v2", "pvt_v2_b0"), ("focalnet", "focalnet_tiny_srf"), ("inception_next", "inception_next_atto"),
    ("mambaout", "mambaout_femto"), ("tiny_vit", "tiny_vit_5m_224"), ("hgnet", "hgnetv2_b0"),
    ("selecsls", "selecsls42"), ("vovnet", "ese_vovnet19b_slim_dw"), ("byoanet", "botnet26t_256"),
    ("byoanet", "halonet_h1"), ("byoanet", "lambda_resnet26t"), ("byobnet", "gernet_s"), ("starnet", "starnet_s050"),
    ("rdnet", "rdnet_tiny"), ("nextvit", "nextvit_small"), ("vitamin", "vitamin_small_224"),
    ("swiftformer", "swiftformer_xs"), ("repghost", "repghostnet_050"), ("fasternet", "fasternet_t0"),
    ("mvitv2", "mvitv2_tiny"), ("flexivit", "flexivit_small"), ("shvit", "shvit_s1"),
]


def timm_cases() -> list[Case]:
    import timm

    cases = []
    for fam, name in TIMM_MODELS:
        key = _key("timm_", name)
        cases.append(_register(Case("timm", fam, name, key,
                                    _seeded(lambda n=name: timm.create_model(n, pretrained=False), key),
                                    expect_source="pretrained_cfg")))
    return cases


# ---------------------------------------------------------------- transformers

def _hf(name: str, make: Callable[[], nn.Module]) -> Case:
    key = _key("hf_", name)
    return _register(Case("transformers", name.split(" ")[0], name, key, _seeded(make, key),
                          expect_source="main_input_name"))


def transformers_cases() -> list[Case]:
    import transformers as T

    small = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256)
    text = dict(small, vocab_size=1000, max_position_embeddings=128)
    return [
        _hf("BertModel", lambda: T.AutoModel.from_config(T.BertConfig(**text))),
        _hf("RobertaModel",
            lambda: T.AutoModel.from_config(T.RobertaConfig(**dict(text, max_position_embeddings=130)))),
        _hf("DistilBertModel", lambda: T.AutoModel.from_config(T.DistilBertConfig(
            dim=128, n_layers=2, n_heads=2, hidden_dim=256, vocab_size=1000, max_position_embeddings=128))),
        _hf("AlbertModel (shared layers)", lambda: T.AutoModel.from_config(T.AlbertConfig(
            embedding_size=64, **text))),
        _hf("GPT2Model", lambda: T.AutoModel.from_config(T.GPT2Config(
            n_embd=128, n_layer=2, n_head=2, n_positions=128, vocab_size=1000))),
        _hf("GPT2LMHeadModel (tied embeddings)", lambda: T.AutoModelForCausalLM.from_config(T.GPT2Config(
            n_embd=128, n_layer=2, n_head=2, n_positions=128, vocab_size=1000))),
        _hf("LlamaModel", lambda: T.AutoModel.from_config(T.LlamaConfig(
            num_key_value_heads=1, **dict(text, num_attention_heads=4)))),
        _hf("T5EncoderModel", lambda: T.T5EncoderModel(T.T5Config(
            d_model=128, d_ff=256, num_layers=2, num_heads=2, d_kv=64, vocab_size=1000))),
        _hf("ViTModel", lambda: T.AutoModel.from_config(T.ViTConfig(image_size=224, patch_size=16, **small))),
        _hf("CLIPVisionModel", lambda: T.CLIPVisionModel(T.CLIPVisionConfig(
            image_size=224, patch_size=32, **small))),
        _hf("SwinModel", lambda: T.AutoModel.from_config(T.SwinConfig(
            image_size=224, embed_dim=32, depths=[1, 1], num_heads=[1, 2]))),
        _hf("ConvNextModel", lambda: T.AutoModel.from_config(T.ConvNextConfig(
            hidden_sizes=[32, 64], depths=[1, 1], num_stages=2))),
        _hf("ResNetModel", lambda: T.AutoModel.from_config(T.ResNetConfig(
            embedding_size=32, hidden_sizes=[32, 64], depths=[1, 1]))),
        _hf("Wav2Vec2Model", lambda: T.AutoModel.from_config(T.Wav2Vec2Config(
            conv_dim=(64,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, **small))),
        _hf("WhisperEncoder", lambda: _whisper_encoder(T)),
    ]


def _whisper_encoder(T: Any) -> nn.Module:  # noqa: N803 (the module, as imported above)
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    return WhisperEncoder(T.WhisperConfig(d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                                          decoder_attention_heads=2, encoder_ffn_dim=256, decoder_ffn_dim=256,
                                          vocab_size=1000, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                          decoder_start_token_id=1, suppress_tokens=[], begin_suppress_tokens=[]))


def all_cases(families: list[str] | None = None) -> list[Case]:
    makers = {"torchvision": torchvision_cases, "timm": timm_cases, "transformers": transformers_cases}
    out: list[Case] = []
    for fam, make in makers.items():
        if families is None or fam in families:
            out.extend(make())
    return out
