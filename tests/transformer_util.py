"""A tiny random BERT checkpoint built inside the tests (no download): char-level WordPiece over Chinese."""

from __future__ import annotations

from pathlib import Path

# Written for these tests. Positive ones carry 好/快/净, negative ones 差/慢/脏, so a few steps separate them.
POSITIVE = ["房间很干净，服务很好", "前台热情，位置很好", "物流很快，质量很好", "味道很好，下次还来",
            "性价比很好，推荐购买", "客服回复很快，态度好", "床很舒服，卫生干净", "包装很好，送货很快",
            "早餐很好吃，环境好", "安装师傅很好，很快就装好了"]
NEGATIVE = ["房间很脏，服务很差", "前台态度差，位置偏", "物流太慢，质量很差", "味道很差，不会再来",
            "价格贵，质量差", "客服回复太慢，态度差", "床很差，卫生很脏", "包装很差，送货很慢",
            "早餐很差，环境脏", "安装师傅态度差，等了很久"]
EXTRA_CHARS = "，。！？、；：…~!?,.;:0123456789abcdefghijklmnopqrstuvwxyz一二三四五六七八九十这是那的了吗呢啊"


def make_tiny_bert(path: Path, texts: list[str] | None = None, max_positions: int = 64) -> Path:
    """Save a 2-layer, 32-wide random BERT (``bert`` encoder only) and a char-level tokenizer to ``path``."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    texts = list(texts if texts is not None else POSITIVE + NEGATIVE)
    chars = sorted({c for t in texts + [EXTRA_CHARS] for c in t.lower()})
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                     sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    # A wider initialiser and no dropout: with BERT's defaults (0.02, dropout 0.1) a 2-layer random model maps
    # every text to nearly the same [CLS] vector and needs many steps to learn anything.
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=max_positions, initializer_range=0.2,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    path = Path(path)
    BertModel(cfg).save_pretrained(path)
    hf_tok.save_pretrained(path)
    return path


FAST = dict(max_length=24, batch_size=4, lr=3e-3, num_threads=1, progress=False, infer_batch_size=8)
