"""CLIPModel (transformers) in plain PyTorch, with its checkpoint key names: text_model.*,
vision_model.*, text_projection, visual_projection, logit_scale.

Text attention is causal and, like Stable Diffusion's use of CLIP, takes no padding mask: pad
tokens are ordinary tokens the eos token cannot see (they come after it).
pooler_output is last_hidden_state at each row's first eos id (eos_token_id must not be the
legacy 2, for which transformers pools at argmax(input_ids) instead).
"""
import torch
import torch.nn.functional as F
from torch import nn

import common
from blocks import attention


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class ClipAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x, causal):
        return self.out_proj(attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads, causal))


class ClipMlp(nn.Module):
    def __init__(self, width, inner, act):
        super().__init__()
        self.act = quick_gelu if act == "quick_gelu" else F.gelu
        self.fc1 = nn.Linear(width, inner)
        self.fc2 = nn.Linear(inner, width)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class ClipEncoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        w, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-5)
        self.self_attn = ClipAttention(w, cfg["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(w, eps=eps)
        self.mlp = ClipMlp(w, cfg["intermediate_size"], cfg.get("hidden_act", "quick_gelu"))
        self.layer_norm2 = nn.LayerNorm(w, eps=eps)

    def forward(self, x, causal):
        x = x + self.self_attn(self.layer_norm1(x), causal)
        return x + self.mlp(self.layer_norm2(x))


class ClipEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList([ClipEncoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])


class TextEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.position_embedding = nn.Embedding(cfg["max_position_embeddings"], cfg["hidden_size"])


class ClipTextTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.eos_token_id = cfg["eos_token_id"]
        self.embeddings = TextEmbeddings(cfg)
        self.encoder = ClipEncoder(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg["hidden_size"], eps=cfg.get("layer_norm_eps", 1e-5))

    def forward(self, input_ids):
        """input_ids [B,T] int64 -> dict(last_hidden_state [B,T,W],
        penultimate_hidden_state_normed [B,T,W], pooler_output [B,W])."""
        t = input_ids.shape[1]
        pos = torch.arange(t, device=input_ids.device)
        x = self.embeddings.token_embedding(input_ids) + self.embeddings.position_embedding(pos)[None]
        penultimate = x
        for i, layer in enumerate(self.encoder.layers):
            if i == len(self.encoder.layers) - 1:
                penultimate = x
            x = layer(x, causal=True)
        last = self.final_layer_norm(x)
        if self.eos_token_id == 2:
            raise ValueError("eos_token_id 2 pools at argmax(input_ids) in transformers: use another id")
        is_eos = (input_ids == self.eos_token_id).int()
        first = is_eos.argmax(dim=1)  # first eos; rows without one pool position 0
        pooled = last[torch.arange(last.shape[0], device=last.device), first]
        return {"last_hidden_state": last, "penultimate_hidden_state_normed": self.final_layer_norm(penultimate),
                "pooler_output": pooled}


class CLIPTextModel(nn.Module):
    """transformers' CLIPTextModel: the text tower under the key prefix its checkpoint uses (a
    pipeline's text_encoder/)."""

    def __init__(self, cfg):
        super().__init__()
        self.text_model = ClipTextTransformer(cfg)


class VisionEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        w, p = cfg["hidden_size"], cfg["patch_size"]
        self.class_embedding = nn.Parameter(torch.zeros(w))
        self.patch_embedding = nn.Conv2d(cfg["num_channels"], w, p, stride=p, bias=False)
        n = (cfg["image_size"] // p) ** 2 + 1
        self.position_embedding = nn.Embedding(n, w)

    def forward(self, pixels):  # [B,3,S,S] -> [B,1+patches,W]
        x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
        cls = self.class_embedding[None, None].expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        return x + self.position_embedding.weight[None]


class ClipVisionTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg.get("layer_norm_eps", 1e-5)
        self.embeddings = VisionEmbeddings(cfg)
        self.pre_layrnorm = nn.LayerNorm(cfg["hidden_size"], eps=eps)  # sic: transformers' spelling
        self.encoder = ClipEncoder(cfg)
        self.post_layernorm = nn.LayerNorm(cfg["hidden_size"], eps=eps)

    def forward(self, pixels):  # -> pooled [B,W]
        x = self.pre_layrnorm(self.embeddings(pixels))
        for layer in self.encoder.layers:
            x = layer(x, causal=False)
        return self.post_layernorm(x[:, 0])


class CLIPModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        tc, vc = cfg["text_config"], cfg["vision_config"]
        p = cfg["projection_dim"]
        self.text_model = ClipTextTransformer(tc)
        self.vision_model = ClipVisionTransformer(vc)
        self.text_projection = nn.Linear(tc["hidden_size"], p, bias=False)
        self.visual_projection = nn.Linear(vc["hidden_size"], p, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(cfg.get("logit_scale_init_value", 2.6592))))

    def text_embeds(self, input_ids):
        return self.text_projection(self.text_model(input_ids)["pooler_output"])

    def image_embeds(self, pixels):
        return self.visual_projection(self.vision_model(pixels))


def clip_config(vocab_size, bos, eos, pad, text_width=64, text_layers=4, text_heads=4, positions=77,
                vision_width=64, vision_layers=4, vision_heads=4, image_size=64, patch_size=8, projection_dim=64):
    """A transformers CLIPModel config.json."""
    text = {
        "hidden_size": text_width, "intermediate_size": 4 * text_width, "num_attention_heads": text_heads,
        "num_hidden_layers": text_layers, "max_position_embeddings": positions, "vocab_size": vocab_size,
        "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05, "bos_token_id": bos, "eos_token_id": eos,
        "pad_token_id": pad, "projection_dim": projection_dim, "model_type": "clip_text_model",
    }
    vision = {
        "hidden_size": vision_width, "intermediate_size": 4 * vision_width, "num_attention_heads": vision_heads,
        "num_hidden_layers": vision_layers, "image_size": image_size, "patch_size": patch_size,
        "num_channels": 3, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05, "projection_dim": projection_dim,
        "model_type": "clip_vision_model",
    }
    return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": projection_dim,
            "logit_scale_init_value": 2.6592, "text_config": text, "vision_config": vision}


def with_text_layers(clip_cfg, layers):
    """The CLIPModel config with a text tower of `layers` encoder layers (a UNet run may grow
    its copy of the tower: train_unet.py --text-layers)."""
    return dict(clip_cfg, text_config=dict(clip_cfg["text_config"], num_hidden_layers=layers))


def load_trained_text_tower(unet_run, clip_cfg, device):
    """A UNet run's EMA copy of the text tower it trained with it (train_unet.py
    --train-text-encoder), in a CLIPModel of `clip_cfg` with the run's layer count (the run may
    have grown its tower: --text-layers). Returns (model, the run's step)."""
    layers = common.checkpoint_state(unet_run)["extra"].get("text_layers")
    model = CLIPModel(with_text_layers(clip_cfg, layers) if layers else clip_cfg)
    step, _ = common.load_checkpoint(unet_run, {"ema_text": model.text_model}, None, device)
    return model, step


def text_encoder_config(clip_cfg):
    """The CLIPTextModel config.json (a pipeline's text_encoder/) of a CLIPModel config."""
    t = dict(clip_cfg["text_config"])
    t.pop("model_type", None)
    return {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", **t}
