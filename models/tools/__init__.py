"""Offline model tools: weight conversion, ONNX export, quantisation, the build.

These import torch; the kiosk's run-time never imports this package.
"""
