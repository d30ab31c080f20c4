"""VM and network providers: the adapters between Lago's records and a hypervisor.

Only :mod:`lago.providers.libvirt` imports ``libvirt``.
"""
