"""Text to vectors: loading sentence-transformer encoders, encoding with a text-hash cache, stored matrices, the encoder runtimes (runtimes/: torch, int8 ONNX, OpenVINO), FLOP counts."""
