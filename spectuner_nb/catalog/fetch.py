"""Online path: transitions from the CDMS and JPL services through astroquery.

The HTTP request and the parsing of its answer are separate, as in
astroquery: :func:`request_text` asks the service (astroquery's ``CDMS`` or
``JPLSpec`` do the HTTP) and returns the raw answer; :func:`parse_answer`
turns that text into a :class:`LineList` with :mod:`.spcat`. The CDMS query
asks for log10 A_ul (intensity temperature 0); the JPL answer carries LGINT
at 300 K, converted with the JPL partition function of the tag. Both tables
come with astroquery, so only the line request needs the network.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ..errors import CatalogError, OfflineError, SpeciesNotFoundError
from .linelist import LineList
from .names import resolve
from .partfunc import PartitionEntry, partition_for_tag
from .spcat import parse_spcat, to_linelist

__all__ = [
    "CATALOGS",
    "SERVICE_HOSTS",
    "FULL_RANGE_MHZ",
    "OFFLINE_OPTIONS",
    "FetchRequest",
    "plan",
    "reachable",
    "require_online",
    "request_text",
    "parse_answer",
]

CATALOGS = ("CDMS", "JPL")
SERVICE_HOSTS = {"CDMS": "cdms.astro.uni-koeln.de", "JPL": "spec.jpl.nasa.gov"}
"""Hosts of astroquery's CDMS and JPLSpec services (probed before the slow astroquery import)."""
FULL_RANGE_MHZ = (1.0, 1.0e7)
"""Frequency range asked for by default (MHz): everything the services list."""

OFFLINE_OPTIONS = (
    "offline options: the shipped starter catalog (`spectuner-nb catalog list`), "
    "`spectuner-nb catalog import FILE` for a CDMS/JPL .cat, LAMDA .dat or Splatalogue .csv "
    "file, or `spectuner-nb catalog import splatalogue.db --species NAME` (casadata's "
    "offline Splatalogue, `pip install spectuner_nb[casa]`)"
)


@dataclass(frozen=True)
class FetchRequest:
    """What to ask a service for: catalog, directory entry, frequency range (MHz)."""

    catalog: str
    entry: PartitionEntry
    fmin: float
    fmax: float

    @property
    def molecule(self) -> str:
        """The service's molecule identifier (CDMS "028503 CO, v=0", JPL "28001 CO")."""
        if self.catalog == "CDMS":
            return f"{self.entry.tag:06d} {self.entry.name}"
        return f"{self.entry.tag} {self.entry.name}"


def plan(
    species: str | int, catalog: str = "CDMS", fmin: float | None = None, fmax: float | None = None
) -> FetchRequest:
    """The request for ``species`` (name or tag) in ``catalog``, from astroquery's tables."""
    catalog = catalog.upper()
    if catalog not in CATALOGS:
        raise CatalogError(f"catalog must be one of {CATALOGS}, not {catalog!r}")
    if isinstance(species, int) or str(species).isdigit():
        entry = partition_for_tag(int(species))
        if entry.catalog != catalog:
            raise CatalogError(f"tag {species} belongs to {entry.catalog}, not {catalog}")
    else:
        from .build import partition_tables

        found = [e for e in partition_tables(resolve(str(species))) if e.catalog == catalog]
        if not found:
            raise SpeciesNotFoundError(
                f"species {species!r} ({resolve(str(species))}) is not listed by {catalog} "
                "in astroquery's catalog directory"
            )
        entry = found[0]
    lo, hi = FULL_RANGE_MHZ
    return FetchRequest(catalog, entry, lo if fmin is None else fmin, hi if fmax is None else fmax)


def reachable(host: str, timeout: float = 1.0) -> bool:
    """True if a TCP connection to ``host``:443 opens within ``timeout`` s."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def require_online(catalog: str, what: str = "") -> None:
    """Raise :class:`OfflineError` (naming the offline options) if ``catalog``'s host is
    unreachable (1 s TCP probe)."""
    if catalog.upper() not in SERVICE_HOSTS:
        raise CatalogError(f"catalog must be one of {CATALOGS}, not {catalog!r}")
    host = SERVICE_HOSTS[catalog.upper()]
    if not reachable(host):
        raise OfflineError(f"cannot reach {catalog} ({host}){what}; " + OFFLINE_OPTIONS)


def request_text(req: FetchRequest, timeout: float = 30.0) -> str:
    """Ask the service (HTTP through astroquery) and return the raw answer text.

    Raises :class:`OfflineError` (naming the offline options) when the service
    cannot be reached; a 1 s TCP probe comes first, so that happens quickly.
    """
    require_online(req.catalog, f" for {req.entry.name} (tag {req.entry.tag})")
    import astropy.units as u
    import requests

    if req.catalog == "CDMS":
        from astroquery.linelists.cdms import CDMSClass as Service

        kwargs = {"temperature_for_intensity": 0}
    else:
        from astroquery.jplspec import JPLSpecClass as Service

        kwargs = {}
    service = Service()
    service.TIMEOUT = timeout
    try:
        response = service.query_lines_async(
            min_frequency=req.fmin * u.MHz,
            max_frequency=req.fmax * u.MHz,
            molecule=req.molecule,
            cache=False,
            **kwargs,
        )
        response.raise_for_status()
    except requests.exceptions.RequestException as exc:
        raise OfflineError(
            f"cannot reach {req.catalog} for {req.entry.name} (tag {req.entry.tag}): "
            f"{type(exc).__name__}; {OFFLINE_OPTIONS}"
        ) from exc
    except Exception as exc:  # astroquery's own query errors (empty/invalid answers)
        raise CatalogError(f"{req.catalog} query for {req.molecule!r} failed: {exc}") from exc
    return response.text


def parse_answer(text: str, req: FetchRequest) -> LineList:
    """LineList from a service answer (CDMS form HTML with log10 A, or JPL .cat text)."""
    source = f"{req.catalog} service, {req.molecule}"
    table = parse_spcat(text, source=source)
    return to_linelist(
        table,
        req.entry.table,
        species=resolve(req.entry.name),
        catalog=req.catalog,
        tag=req.entry.tag,
    )
