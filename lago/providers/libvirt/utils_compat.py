"""The original's helpers of ``lago.providers.libvirt.utils`` that Lago
itself no longer needs, kept for plugins that import them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import xmltodict

from lago.providers.libvirt.domain_xml import TEMPLATE, template_env

#: ``VIR_DOMAIN_RUNNING``: the only state in which a domain counts as running.
DOMAIN_RUNNING_STATES = frozenset({1})


def libvirt_callback(userdata: Any, err: Any) -> None:
    """An error handler for ``libvirt.registerErrorHandler`` that drops the
    message libvirt would print on stderr (the exception still carries it)."""
    del userdata, err


def auth_callback(credentials: list[list[Any]], user_data: Any) -> int:
    """Fill libvirt's credential requests from the configured user/password."""
    import libvirt

    from lago.config import config

    del user_data
    for credential in credentials:
        if credential[0] == libvirt.VIR_CRED_AUTHNAME:
            credential[4] = config.get("libvirt_username")
        elif credential[0] == libvirt.VIR_CRED_PASSPHRASE:
            credential[4] = config.get("libvirt_password")
    return 0


def get_template(basename: str) -> str:
    """The text of one of the provider's templates (e.g. ``net_template-nat.xml.j2``)."""
    env = template_env()
    loader = env.loader
    assert loader is not None
    return loader.get_source(env, basename)[0]


def get_domain_template(distro: str, libvirt_ver: int, **kwargs: Any) -> str:
    """The domain XML template of ``distro`` (the base one when it has
    none), rendered with ``kwargs``. ``libvirt_ver`` is accepted as the
    original took it; our templates do not depend on it."""
    del libvirt_ver
    import jinja2

    env = template_env()
    try:
        template = env.get_template(TEMPLATE.format(distro))
    except jinja2.TemplateNotFound:
        template = env.get_template(TEMPLATE.format("base"))
    return template.render(**kwargs)


def dict_to_xml(spec: Mapping[str, Any], full_document: bool = False) -> str:
    """``spec`` (xmltodict form: ``@attr``, ``#text``) as XML text."""
    return xmltodict.unparse(dict(spec), full_document=full_document, pretty=True)


class Domain:
    """Names of libvirt domain states."""

    @staticmethod
    def resolve_state(state_number: int) -> str:
        from lago.providers.libvirt.utils import domain_state_name

        return domain_state_name(state_number)
