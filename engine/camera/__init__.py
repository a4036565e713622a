"""The camera layer: poses, action DSL and motion integration, intrinsics, conditioning tensors, file formats."""
