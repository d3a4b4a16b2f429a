#!/usr/bin/env python3
"""Generate a realistic, deterministic model release tree for benchmarking airlock.

Layout written under OUT (which must not exist or be empty):

    OUT/model/model-00001-of-0000N.safetensors ...  bf16 shards, ~--shard-mib each
    OUT/model/model.safetensors.index.json          HF-style weight map
    OUT/model/config.json, generation_config.json,
              tokenizer.json (multi-MB BPE vocab + merges),
              tokenizer_config.json, special_tokens_map.json
    OUT/eval-data/NN/case-NNNNN.json                 --small-files small JSON files

Shard tensors hold bf16 values drawn from N(0, --std) (bf16 = top 16 bits of the
float32), so they compress the way real weights do (only a little). Everything is
derived from --seed: two runs with the same flags write byte-identical trees.

Requires numpy (bench.sh installs it when missing).
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import time
from multiprocessing import Pool

try:
    import numpy as np
except ImportError:  # pragma: no cover - reported to the user
    sys.stderr.write("gen_release.py: numpy is required (pip install numpy)\n")
    sys.exit(2)

MIB = 1 << 20
GIB = 1 << 30
CHUNK_ELEMS = 8 * MIB  # float32 values generated per step (32 MiB of scratch)


# --------------------------------------------------------------------------- tensors


def pick_dims(total_bytes):
    """Pick a Llama-like hidden size so that one decoder layer is <= 1/4 of the release."""
    for hidden in (4096, 2048, 1024, 512, 256, 128):
        inter = hidden * 11008 // 4096
        layer = (4 * hidden * hidden + 3 * hidden * inter + 2 * hidden) * 2
        if layer * 4 <= total_bytes:
            return hidden, inter
    return 64, 172


def plan_tensors(total_bytes):
    """Return [(name, shape)] whose bf16 sizes add up to (almost exactly) total_bytes."""
    hidden, inter = pick_dims(total_bytes)
    vocab = 32000
    tensors = []
    used = 0

    def nbytes(shape):
        return math.prod(shape) * 2

    def add(name, shape):
        nonlocal used
        tensors.append((name, list(shape)))
        used += nbytes(shape)

    # Reserve room for the tail (final norm + lm_head remainder) by filling first.
    embed = (vocab, hidden)
    if nbytes(embed) * 4 <= total_bytes:
        add("model.embed_tokens.weight", embed)
    layer = 0
    while True:
        p = f"model.layers.{layer}."
        block = [
            (p + "input_layernorm.weight", (hidden,)),
            (p + "self_attn.q_proj.weight", (hidden, hidden)),
            (p + "self_attn.k_proj.weight", (hidden, hidden)),
            (p + "self_attn.v_proj.weight", (hidden, hidden)),
            (p + "self_attn.o_proj.weight", (hidden, hidden)),
            (p + "post_attention_layernorm.weight", (hidden,)),
            (p + "mlp.gate_proj.weight", (inter, hidden)),
            (p + "mlp.up_proj.weight", (inter, hidden)),
            (p + "mlp.down_proj.weight", (hidden, inter)),
        ]
        size = sum(nbytes(s) for _, s in block)
        if used + size + nbytes((hidden,)) > total_bytes:
            break
        for name, shape in block:
            add(name, shape)
        layer += 1
    add("model.norm.weight", (hidden,))
    # Fill the remainder with the output head (rows of `hidden`), like an untied lm_head.
    rows = (total_bytes - used) // (hidden * 2)
    if rows > 0:
        add("lm_head.weight", (rows, hidden))
    return tensors, hidden, inter, vocab, layer


def plan_shards(tensors, shard_bytes):
    """Greedy: fill each shard up to shard_bytes; a larger tensor gets a shard of its own."""
    shards, cur, cur_bytes = [], [], 0
    for name, shape in tensors:
        n = math.prod(shape) * 2
        if cur and cur_bytes + n > shard_bytes:
            shards.append(cur)
            cur, cur_bytes = [], 0
        cur.append((name, shape))
        cur_bytes += n
    if cur:
        shards.append(cur)
    return shards


def safetensors_header(tensors):
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, shape in tensors:
        n = math.prod(shape) * 2
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((-len(raw)) % 8)
    return struct.pack("<Q", len(raw)) + raw, off


def write_shard(job):
    path, tensors, seed, index, std = job
    rng = np.random.default_rng([seed, index])
    head, data_len = safetensors_header(tensors)
    buf = np.empty(CHUNK_ELEMS, dtype=np.float32)
    with open(path + ".part", "wb") as f:
        f.write(head)
        for _name, shape in tensors:
            left = math.prod(shape)
            while left:
                n = min(left, CHUNK_ELEMS)
                x = buf[:n]
                rng.standard_normal(out=x, dtype=np.float32)
                x *= np.float32(std)
                # bf16 = the top 16 bits of the IEEE float32 (truncation).
                (x.view(np.uint32) >> 16).astype("<u2").tofile(f)
                left -= n
    os.replace(path + ".part", path)
    return len(head) + data_len


# --------------------------------------------------------------------------- tokenizer


def make_tokenizer(rnd, vocab_size):
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4,
               2.4, 2.2, 2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.15, 0.15, 0.1, 0.07]
    vocab = {}
    # Byte-level alphabet first (GPT-2 style byte-to-unicode mapping).
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    for c in cs:
        vocab[chr(c)] = len(vocab)
    merges = []
    while len(vocab) < vocab_size:
        length = min(1 + int(rnd.expovariate(0.35)), 14)
        word = "".join(rnd.choices(letters, weights, k=length))
        r = rnd.random()
        if r < 0.55:
            word = "\u0120" + word  # 'Ġ' = leading space
        elif r < 0.62:
            word = word.capitalize()
        elif r < 0.66:
            word = "\u0120" + word.capitalize()
        if word in vocab:
            continue
        vocab[word] = len(vocab)
        cut = max(1, len(word) // 2)
        merges.append(f"{word[:cut]} {word[cut:]}" if len(word) > 1 else f"{word} {word}")
    special = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"] + [
        f"<|reserved_special_token_{i}|>" for i in range(250)
    ]
    added = []
    for tok in special:
        added.append({"id": len(vocab) + len(added), "content": tok, "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": False, "special": True})
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split",
                 "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
                 "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                 "use_regex": False},
            ],
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>",
                                                     "ids": [vocab_size], "tokens": ["<|begin_of_text|>"]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None,
            "continuing_subword_prefix": None, "end_of_word_suffix": None,
            "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
            "vocab": vocab, "merges": merges,
        },
    }
    return tok, [a["content"] for a in added]


# --------------------------------------------------------------------------- small files


def small_case(rnd, i):
    words = ["deploy", "model", "safeguard", "refuse", "allow", "weapon", "chemistry", "policy",
             "classifier", "threshold", "prompt", "completion", "audit", "enclave", "transfer",
             "review", "harm", "benign", "medical", "cyber", "biology", "finance", "legal"]
    n = rnd.randint(8, 120)
    prompt = " ".join(rnd.choice(words) for _ in range(n))
    return {
        "id": f"case-{i:05d}",
        "category": rnd.choice(["cbrn", "cyber", "self-harm", "benign", "privacy", "fraud"]),
        "prompt": prompt,
        "expected": rnd.choice(["refuse", "comply", "escalate"]),
        "severity": rnd.randint(0, 4),
        "scores": {"classifier_v3": round(rnd.random(), 6), "classifier_v4": round(rnd.random(), 6)},
        "tags": rnd.sample(words, rnd.randint(1, 5)),
    }


# --------------------------------------------------------------------------- main


def write_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write("\n")


# The airlock spec the benchmarks pack the release with (scripts/bench.sh, bench-oci.sh,
# profile.sh): one place, so the three measure the same bundle. Paths are relative to the spec's
# directory, which must be the release directory's parent.
BENCH_SPEC = """[bundle]
name = "bench"
version = "1.0.0"
sequence = 1
target = "bench-site"
{expires}
[[artifact]]
kind = "model"
name = "bench-model"
path = "{release}/model"

[[artifact]]
kind = "data"
name = "bench-evals"
path = "{release}/eval-data"
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="output directory (created; must be empty if it exists)")
    ap.add_argument("--size-gib", type=float, default=2.0, help="total bytes of safetensors shards, GiB (default 2)")
    ap.add_argument("--shard-mib", type=int, default=512, help="target shard size, MiB (default 512)")
    ap.add_argument("--small-files", type=int, default=3000, help="number of small JSON files (default 3000)")
    ap.add_argument("--vocab", type=int, default=128000, help="tokenizer vocab size (default 128000, ~5 MB json)")
    ap.add_argument("--std", type=float, default=0.02, help="std of the normal weights (default 0.02)")
    ap.add_argument("--seed", type=int, default=20240601, help="RNG seed (default 20240601)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel shard writers (default nproc)")
    ap.add_argument("--quiet", action="store_true", help="print nothing on success")
    ap.add_argument("--spec", metavar="FILE",
                    help="also write the benchmarks' airlock spec for the release to FILE, which must be "
                         "in the output directory's parent (with `expires = 2099-12-31`: SOURCE_DATE_EPOCH "
                         "sets `created` in 2023, so a default validity would have run out)")
    ap.add_argument("--spec-no-expires", action="store_true",
                    help="leave `expires` out of the spec (for an airlock build that has no such field)")
    args = ap.parse_args()
    if args.spec and os.path.dirname(os.path.abspath(args.spec)) != os.path.dirname(os.path.abspath(args.out)):
        ap.error("--spec must name a file beside the output directory")

    t0 = time.time()
    out = args.out
    if os.path.exists(out) and os.listdir(out):
        ap.error(f"{out} exists and is not empty")
    model = os.path.join(out, "model")
    evals = os.path.join(out, "eval-data")
    os.makedirs(model, exist_ok=True)
    os.makedirs(evals, exist_ok=True)

    total = int(args.size_gib * GIB)
    tensors, hidden, inter, vocab_n, layers = plan_tensors(total)
    shards = plan_shards(tensors, args.shard_mib * MIB)
    ns = len(shards)
    names = [f"model-{i + 1:05d}-of-{ns:05d}.safetensors" for i in range(ns)]
    jobs = [(os.path.join(model, names[i]), shards[i], args.seed, i, args.std) for i in range(ns)]
    weight_map = {t: names[i] for i, sh in enumerate(shards) for t, _ in sh}

    with Pool(max(1, min(args.jobs, ns))) as pool:
        shard_sizes = pool.map(write_shard, jobs, chunksize=1)

    write_json(os.path.join(model, "model.safetensors.index.json"),
               {"metadata": {"total_size": sum(math.prod(s) * 2 for _, s in tensors)},
                "weight_map": dict(sorted(weight_map.items()))})

    rnd = random.Random(args.seed)
    write_json(os.path.join(model, "config.json"), {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": args.vocab, "eos_token_id": args.vocab + 1, "hidden_act": "silu",
        "hidden_size": hidden, "initializer_range": args.std, "intermediate_size": inter,
        "max_position_embeddings": 8192, "model_type": "llama", "num_attention_heads": max(1, hidden // 128),
        "num_hidden_layers": layers, "num_key_value_heads": max(1, hidden // 128), "pretraining_tp": 1,
        "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 500000.0, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16", "transformers_version": "4.44.0", "use_cache": True,
        "vocab_size": args.vocab + 256,
    })
    write_json(os.path.join(model, "generation_config.json"), {
        "bos_token_id": args.vocab, "do_sample": True, "eos_token_id": [args.vocab + 1],
        "max_length": 8192, "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.44.0",
    })
    tok, special = make_tokenizer(rnd, args.vocab)
    write_json(os.path.join(model, "tokenizer.json"), tok)
    write_json(os.path.join(model, "special_tokens_map.json"), {
        "bos_token": special[0], "eos_token": special[1], "pad_token": special[2]})
    write_json(os.path.join(model, "tokenizer_config.json"), {
        "add_bos_token": True, "add_eos_token": False, "bos_token": special[0],
        "clean_up_tokenization_spaces": True, "eos_token": special[1], "model_max_length": 131072,
        "pad_token": special[2], "tokenizer_class": "PreTrainedTokenizerFast"})

    per_dir = 100
    for i in range(args.small_files):
        d = os.path.join(evals, f"{i // per_dir:02d}")
        if i % per_dir == 0:
            os.makedirs(d, exist_ok=True)
        write_json(os.path.join(d, f"case-{i:05d}.json"), small_case(rnd, i))

    if args.spec:
        expires = "" if args.spec_no_expires else 'expires = "2099-12-31T00:00:00Z"\n'
        with open(args.spec, "w") as f:
            f.write(BENCH_SPEC.format(expires=expires, release=os.path.basename(os.path.abspath(out))))

    if not args.quiet:
        print(f"gen_release: {ns} shard(s), {sum(shard_sizes) / MIB:.1f} MiB of safetensors "
              f"(hidden {hidden}, {layers} layers), tokenizer {os.path.getsize(os.path.join(model, 'tokenizer.json')) / MIB:.1f} MiB, "
              f"{args.small_files} small files, in {time.time() - t0:.1f}s -> {out}")


if __name__ == "__main__":
    main()
