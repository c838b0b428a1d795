"""Capture: devices and files to frames, frames to 3D skeletons, skeletons to tracks and windows."""
