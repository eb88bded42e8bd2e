"""Transformer backend (Hugging Face transformers + torch): fine-tuning, batched inference, quantisation.

Models load only from local folders (``from_pretrained(path)``, safetensors); nothing is downloaded.
"""
