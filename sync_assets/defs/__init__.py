"""The `dg` defs folder: each sub-folder's defs.yaml declares a component instance."""
