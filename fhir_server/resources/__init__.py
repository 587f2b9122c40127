"""Supported resource types and their write-time behaviour."""
