"""The course as a static website (``make site``): :mod:`.pages` makes an executed notebook into a page,
:mod:`.build` builds the site with Sphinx and MyST-NB, offline. Needs the ``site`` extra."""

from .build import SitePage, SiteReport, build_site

__all__ = ["SitePage", "SiteReport", "build_site"]
