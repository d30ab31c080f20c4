"""Lago: declarative multi-VM environments on libvirt/qemu."""

__version__ = "1.0.0"
