"""Reusable validators, safe by construction against hostile input."""
