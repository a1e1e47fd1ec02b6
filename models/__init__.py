"""The multi-head wire classifier and its verified persistence."""
