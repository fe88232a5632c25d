"""Networks (f1, f2, h), backbones, losses, preprocessing, the motion input, inference
engines, the streaming predictor, and the model folder with its file names.
"""
