"""The libvirt provider (the original's ``local-libvirt`` VM provider).

Pure parts, usable without a daemon: :mod:`.utils` (names, states),
:mod:`.cpu`, :mod:`.domain_xml`, :mod:`.network_xml`. :mod:`.host` probes the
daemon once per connection; :mod:`.vm` and :mod:`.network` drive lifecycles.
"""
