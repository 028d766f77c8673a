"""Encoder runtimes behind one interface: torch, the int8 ONNX export, OpenVINO (`inference.runtime`; registry.py chooses)."""
