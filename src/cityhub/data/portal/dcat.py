"""DCAT-AP 3 documents of the open catalog (rdflib): the paged catalog, each dataset, and the sitemap.

Only published entries whose open type is 无条件开放 (access right PUBLIC) or 有条件开放 (RESTRICTED) are ever
described; 不予开放 (NON_PUBLIC) entries are never listed. Vocabularies are the EU Publications Office authority
tables DCAT-AP names (access-right, frequency, file-type, language).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data.catalog import public as catalog_public
from cityhub.data.catalog import service as catalog_service
from cityhub.data.catalog.tiers import publisher_org_id
from cityhub.data.vocabulary import UPDATE_CYCLES
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

if TYPE_CHECKING:
    from cityhub.data.models import CatalogEntry, Resource

PAGE_SIZE = 100
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
EU = "http://publications.europa.eu/resource/authority/"
ACCESS = {"unconditional": URIRef(EU + "access-right/PUBLIC"), "conditional": URIRef(EU + "access-right/RESTRICTED"),
          "none": URIRef(EU + "access-right/NON_PUBLIC")}
FREQUENCY = {"realtime": "CONT", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY", "quarterly": "QUARTERLY",
             "half_yearly": "ANNUAL_2", "yearly": "ANNUAL", "irregular": "IRREG"}
LANG_ZH = URIRef(EU + "language/ZHO")
CC_BY = URIRef("https://creativecommons.org/licenses/by/4.0/")


def _graph() -> Graph:
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("vcard", VCARD), ("hydra", HYDRA),
                       ("skos", SKOS), ("adms", ADMS)):
        g.bind(prefix, ns)
    return g


def _dt(value: datetime) -> Literal:
    return Literal(value.isoformat(), datatype=XSD.dateTime)


def _agent(g: Graph, base: str, org: Any) -> URIRef:
    agent = URIRef(f"{base}/organization/{org.code}")
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, Literal(org.name, lang="zh")))
    return agent


def _license(g: Graph, entry: CatalogEntry, base: str) -> URIRef:
    lic = CC_BY if entry.open_type == "unconditional" else URIRef(f"{base}/portal/terms#conditional")
    g.add((lic, RDF.type, DCTERMS.LicenseDocument))
    return lic


def add_dataset(g: Graph, base: str, entry: CatalogEntry, org: Any, resources: list[Resource]) -> URIRef:
    """Describe one open entry as a dcat:Dataset with its distributions."""
    ds = URIRef(f"{base}/dataset/{entry.name}")
    page = URIRef(f"{base}/dataset/{entry.name}")
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.title, Literal(entry.title, lang="zh")))
    g.add((ds, DCTERMS.description, Literal(entry.abstract or entry.title, lang="zh")))
    g.add((ds, DCTERMS.identifier, Literal(entry.code)))
    for tag in entry.tags or []:
        g.add((ds, DCAT.keyword, Literal(tag, lang="zh")))
    if org is not None:
        agent = _agent(g, base, org)
        g.add((ds, DCTERMS.publisher, agent))
        contact = BNode()
        g.add((contact, RDF.type, VCARD.Organization))
        g.add((contact, RDF.type, VCARD.Kind))  # Organization is a Kind; validators do not infer vCard classes
        g.add((contact, VCARD.fn, Literal(org.name, lang="zh")))
        g.add((ds, DCAT.contactPoint, contact))
    if entry.published_at:
        g.add((ds, DCTERMS.issued, _dt(entry.published_at)))
    g.add((ds, DCTERMS.modified, _dt(entry.updated_at)))
    access = ACCESS[entry.open_type]
    g.add((access, RDF.type, DCTERMS.RightsStatement))
    g.add((ds, DCTERMS.accessRights, access))
    freq = URIRef(EU + "frequency/" + FREQUENCY.get(entry.update_cycle, "IRREG"))
    g.add((freq, RDF.type, DCTERMS.Frequency))
    g.add((freq, SKOS.prefLabel, Literal(UPDATE_CYCLES.get(entry.update_cycle, entry.update_cycle), lang="zh")))
    g.add((ds, DCTERMS.accrualPeriodicity, freq))
    g.add((LANG_ZH, RDF.type, DCTERMS.LinguisticSystem))
    g.add((ds, DCTERMS.language, LANG_ZH))
    g.add((page, RDF.type, FOAF.Document))
    g.add((ds, DCAT.landingPage, page))
    g.add((ds, URIRef("http://www.w3.org/2002/07/owl#versionInfo"), Literal(str(entry.version))))
    lic = _license(g, entry, base)
    for res in resources:
        dist = URIRef(f"{base}/dataset/{entry.name}/resource/{res.id}")
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((ds, DCAT.distribution, dist))
        g.add((dist, DCTERMS.title, Literal(res.title, lang="zh")))
        g.add((dist, DCTERMS.license, lic))
        g.add((dist, DCTERMS.modified, _dt(res.updated_at)))
        if res.kind == "table":
            dump = URIRef(f"{base}/datastore/dump/{res.id}?format=csv")
            if entry.open_type == "unconditional":
                g.add((dist, DCAT.accessURL, dump))
                g.add((dist, DCAT.downloadURL, dump))
            else:
                g.add((dist, DCAT.accessURL, page))  # 有条件开放: apply on the dataset page first
            fmt = URIRef(EU + "file-type/CSV")
            media = URIRef("https://www.iana.org/assignments/media-types/text/csv")
            g.add((media, RDF.type, DCTERMS.MediaType))
            g.add((dist, DCAT.mediaType, media))
        elif res.kind == "file":
            url = URIRef(f"{base}/dataset/{entry.name}/resource/{res.id}/download/{res.file_name or 'file'}")
            g.add((dist, DCAT.accessURL, url if entry.open_type == "unconditional" else page))
            ext = res.file_name.rsplit(".", 1)[-1].upper() if "." in res.file_name else "BIN"
            fmt = URIRef(EU + "file-type/" + ext)
            if res.file_size:
                g.add((dist, DCAT.byteSize, Literal(res.file_size, datatype=XSD.nonNegativeInteger)))
        else:
            g.add((dist, DCAT.accessURL, page))  # proxied APIs are served to grantees only
            fmt = URIRef(EU + "file-type/JSON")
        g.add((fmt, RDF.type, DCTERMS.MediaTypeOrExtent))
        g.add((dist, DCTERMS.format, fmt))
    return ds


def _catalog_node(g: Graph, session: Session, base: str) -> URIRef:
    cat = URIRef(f"{base}/catalog")
    settings = get_settings()
    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, Literal(settings.portal_site_title, lang="zh")))
    g.add((cat, DCTERMS.description, Literal(_("Open government data of the city"), lang="en")))
    g.add((cat, DCTERMS.description, Literal("本市政务数据资源开放目录（无条件开放与有条件开放）", lang="zh")))
    bureau_id = core.bureau_id(session)
    bureau = next((o for o in core.organization_all(session) if o.id == bureau_id), None)
    publisher = URIRef(f"{base}/organization/{bureau.code}") if bureau else URIRef(f"{base}/portal")
    g.add((publisher, RDF.type, FOAF.Agent))
    g.add((publisher, FOAF.name, Literal(bureau.name if bureau else settings.portal_site_title, lang="zh")))
    g.add((cat, DCTERMS.publisher, publisher))
    home = URIRef(f"{base}/portal")
    g.add((home, RDF.type, FOAF.Document))
    g.add((cat, FOAF.homepage, home))
    g.add((cat, DCTERMS.language, LANG_ZH))
    g.add((LANG_ZH, RDF.type, DCTERMS.LinguisticSystem))
    api = URIRef(f"{base}/api/3/action/")
    svc = URIRef(f"{base}/api/3")
    g.add((svc, RDF.type, DCAT.DataService))
    g.add((svc, DCTERMS.title, Literal("CKAN Action API", lang="en")))
    g.add((svc, DCAT.endpointURL, api))
    g.add((cat, DCAT.service, svc))
    return cat


def _serialize(g: Graph, fmt: str) -> bytes:
    if fmt == "json-ld":
        return g.serialize(format="json-ld", auto_compact=True).encode()
    return g.serialize(format=fmt, encoding="utf-8")


def catalog(session: Session, actor: Actor, base: str, page: int, fmt: str) -> bytes:
    """One page of the open catalog (PAGE_SIZE datasets) with hydra paging links."""
    entries, total = catalog_public.public_entries_page(session, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    last = max(1, math.ceil(total / PAGE_SIZE))
    g = _graph()
    cat = _catalog_node(g, session, base)
    orgs = {o.id: o for o in core.organization_all(session)}
    by_entry = catalog_service.resources_of(session, [e.id for e in entries])
    for e in entries:
        g.add((cat, DCAT.dataset, add_dataset(g, base, e, orgs.get(publisher_org_id(e)), by_entry[e.id])))
    ext = {"turtle": "ttl", "json-ld": "jsonld", "xml": "rdf"}[fmt]
    paging = URIRef(f"{base}/catalog.{ext}?page={page}")
    g.add((paging, RDF.type, HYDRA.PagedCollection))
    g.add((paging, HYDRA.totalItems, Literal(total, datatype=XSD.integer)))
    g.add((paging, HYDRA.itemsPerPage, Literal(PAGE_SIZE, datatype=XSD.integer)))
    g.add((paging, HYDRA.firstPage, Literal(f"{base}/catalog.{ext}?page=1")))
    g.add((paging, HYDRA.lastPage, Literal(f"{base}/catalog.{ext}?page={last}")))
    if page < last:
        g.add((paging, HYDRA.nextPage, Literal(f"{base}/catalog.{ext}?page={page + 1}")))
    if page > 1:
        g.add((paging, HYDRA.previousPage, Literal(f"{base}/catalog.{ext}?page={page - 1}")))
    return _serialize(g, fmt)


def dataset_document(session: Session, actor: Actor, base: str, name: str, fmt: str) -> bytes:
    """One open dataset (404 for anything outside the open catalog, whoever asks: DCAT is public metadata)."""
    entry = catalog_public.public_entry_by_name(session, name)
    orgs = {o.id: o for o in core.organization_all(session)}
    resources = catalog_service.resources_of(session, [entry.id])[entry.id]
    g = _graph()
    add_dataset(g, base, entry, orgs.get(publisher_org_id(entry)), resources)
    return _serialize(g, fmt)


def sitemap(session: Session, base: str) -> bytes:
    """A sitemap of the open dataset pages (at most 50,000, the sitemap protocol's limit)."""
    rows = catalog_public.public_entry_stamps(session, 50_000)
    urls = "".join(f"<url><loc>{escape(f'{base}/dataset/{n}')}</loc><lastmod>{u.date().isoformat()}</lastmod></url>"
                   for n, u in rows)
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{escape(base)}/portal</loc></url>{urls}</urlset>").encode()
