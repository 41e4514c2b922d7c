"""LabGate face models: ONNX Runtime code (detector, aligner, embedder, quality, gallery, decision).

``models.tools`` holds the offline tools that make and judge models. This package imports none of
LabGate's other parts.
"""
