"""Offline model tools: weight conversion, ONNX export, quantisation, the build, and the accuracy
toolkit (evaluate, calibrate, fine-tune).

These import torch; the kiosk's run-time never imports this package.
"""
