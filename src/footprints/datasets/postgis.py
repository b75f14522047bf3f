"""``PostGISTableDataset``: a GeoDataFrame in a PostGIS table, replaced or appended in one transaction.

Every statement is built with SQLAlchemy Core or ``sqlalchemy.text`` with bound parameters: table and schema
names reach the server only as quoted identifiers, values only as parameters.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

import geopandas as gpd
import pandas as pd
import psycopg2
import shapely
import sqlalchemy as sa
from geoalchemy2 import Geometry
from kedro.io import AbstractDataset
from kedro_datasets._typing import TablePreview
from pyproj import CRS

from footprints.datasets.spatial_table import TILE_KEY, all_boxes, finish_clip
from footprints.datasets.vector import _with_plain_columns
from footprints.errors import InputError

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated by the server
ENV_VARIABLES = ("FOOTPRINTS_PG_HOST", "FOOTPRINTS_PG_PORT", "FOOTPRINTS_PG_DB", "FOOTPRINTS_PG_USER",
                 "FOOTPRINTS_PG_PASSWORD")
CLIP_TILES = "footprints_clip_tiles"  # the per-transaction temporary table of tile footprints

_COLUMNS = sa.text("SELECT column_name FROM information_schema.columns "
                   "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position")
_GEOMETRY_COLUMNS = sa.text(
    "SELECT g.f_geometry_column, g.srid, s.auth_name, s.auth_srid FROM geometry_columns g "
    "LEFT JOIN spatial_ref_sys s ON s.srid = g.srid "
    "WHERE g.f_table_schema = :schema AND g.f_table_name = :table")
_HAS_POSTGIS = sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
_HAS_SCHEMA = sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :schema")
# geom: the tile in the table's SRID (for the GiST join); tile_geom: as given, in the image's SRID (for the clip)
_CREATE_CLIP_TILES = sa.text(
    "CREATE TEMPORARY TABLE footprints_clip_tiles (pos integer PRIMARY KEY, geom geometry NOT NULL, "
    "tile_geom geometry NOT NULL) ON COMMIT DROP")
_FILL_CLIP_TILES = sa.text(
    "INSERT INTO footprints_clip_tiles (pos, geom, tile_geom) "
    "SELECT u.pos, ST_Transform(ST_GeomFromWKB(u.wkb, :tile_srid), :srid), ST_GeomFromWKB(u.wkb, :tile_srid) "
    "FROM unnest(CAST(:positions AS integer[]), CAST(:wkbs AS bytea[])) AS u(pos, wkb)")
_ANALYZE_CLIP_TILES = sa.text("ANALYZE footprints_clip_tiles")


@dataclass(frozen=True)
class _Where:
    """Server, database and table of a dataset, to connect and to name them in one-line errors."""

    url: sa.URL | None
    schema: str
    table: str

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def server(self) -> str:
        url = self.url
        return f"database {url.database!r} at {url.host or 'localhost'}:{url.port or 5432}"

    def connection_error(self, err: Exception) -> InputError:
        """One line naming host, port and database, the likely cause and the fix; never the password."""
        text = str(getattr(err, "orig", err)).strip()
        reason, fix = _classify_connection_error(text)
        if reason is None:
            reason = scrub(text.splitlines()[0] if text else type(err).__name__, self.url)
        user = self.url.username or "(default)"
        return InputError(f"cannot connect to PostGIS {self.server} as user {user!r} (for {self.name}): "
                          f"{reason}; {fix}")


def _classify_connection_error(text: str) -> tuple[str | None, str]:
    """Map libpq's connection failures onto a cause and what to do about it."""
    credentials_fix = ("check user and password in the credentials' con (conf/local/credentials.yml) "
                       "or FOOTPRINTS_PG_USER / FOOTPRINTS_PG_PASSWORD")
    if "password authentication failed" in text or "no password supplied" in text:
        return "password authentication failed", credentials_fix
    if 'role "' in text and "does not exist" in text:
        return "no such user", credentials_fix
    if 'database "' in text and "does not exist" in text:
        return "the database does not exist", "create it (createdb; CREATE EXTENSION postgis) or fix its name"
    if "could not translate host name" in text:
        return "unknown host", "fix the host name"
    if any(s in text for s in ("Connection refused", "timeout expired", "No route to host", "unreachable")):
        return "server unreachable", "start PostgreSQL there or fix host and port"
    return None, "check the connection settings"


class PostGISTable:
    """A PostGIS table seen as a ``SpatialTable``: bbox reads and tile clips run in the database (GiST)."""

    def __init__(self, engine: sa.Engine, where: _Where, columns: list[str], geometry: str, srid: int,
                 crs: CRS | None) -> None:
        self._engine, self._where = engine, where
        self.columns, self.geometry, self.srid, self.crs = columns, geometry, srid, crs

    def read(self, bbox: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
        """Rows whose geometry intersects ``bbox``: ``&&`` finds candidates by GiST, ST_Intersects decides."""
        return self._select(bbox=bbox)

    def clip_to(self, tiles: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Each row clipped to each tile footprint it intersects, computed by ONE join in the database.

        The footprints go into a temporary table in the same transaction (bound WKB), then one SELECT joins
        them with ``ST_Intersects`` (GiST) and clips, in the tiles' CRS, with ``ST_ClipByBox2D`` when every
        footprint is an axis-aligned box there (the in-image part of a north-up tile in its image CRS: then
        the box clip is exact and ~1.5x faster; its occasional invalid output is repaired by ``finish_clip``),
        else with ``ST_Intersection``. Tiles go in by position, so
        ``tile_id`` comes back with the tiles' own values and dtype, and ``finish_clip`` then gives the rows
        ``GeoPackageTable.clip_to`` gives.
        """
        tile_srid = self._tile_srid(tiles)
        rows = self._sa_table()
        clip = sa.table(CLIP_TILES, sa.column("pos"), sa.column("geom"), sa.column("tile_geom"))
        geom, attributes = rows.c[self.geometry], self._attributes()
        in_tile_crs = sa.func.ST_Transform(geom, tile_srid) if tile_srid != self.srid else geom
        # geometry::text is hex EWKB, what _read_frame parses (a bare geoalchemy2 function would not be)
        query = (sa.select(clip.c.pos.label(TILE_KEY), *(rows.c[c] for c in attributes),
                           sa.cast(_clip(in_tile_crs, clip.c.tile_geom, all_boxes(tiles)), sa.Text)
                           .label("geometry"))
                 .select_from(rows.join(clip, sa.func.ST_Intersects(geom, clip.c.geom))))
        with _transaction(self._engine, self._where) as conn:
            conn.execute(_CREATE_CLIP_TILES)
            conn.execute(_FILL_CLIP_TILES, {"srid": self.srid, "tile_srid": tile_srid,
                                            "positions": list(range(len(tiles))),
                                            "wkbs": [bytes(w) for w in tiles.geometry.to_wkb()]})
            conn.execute(_ANALYZE_CLIP_TILES)
            clipped = _read_frame(query, conn, "geometry", tiles.crs or self.crs)
        clipped[TILE_KEY] = tiles[TILE_KEY].to_numpy()[clipped[TILE_KEY].to_numpy(dtype=int)]
        return finish_clip(clipped, sort_by=[TILE_KEY, *attributes[:1]])

    def _select(self, bbox: tuple[float, float, float, float] | None = None,
                limit: int | None = None) -> gpd.GeoDataFrame:
        """``SELECT`` every column in table order, optionally bbox-filtered and limited."""
        rows = self._sa_table()
        query = sa.select(*rows.c).limit(limit)
        if bbox is not None:
            envelope = sa.func.ST_MakeEnvelope(*_bbox(bbox), self.srid)
            geom = rows.c[self.geometry]
            query = query.where(geom.op("&&")(envelope), sa.func.ST_Intersects(geom, envelope))
        with _transaction(self._engine, self._where) as conn:
            return _read_frame(query, conn, self.geometry, self.crs)

    def _sa_table(self) -> sa.TableClause:
        """The table as a typeless Core clause: geometries come back as hex EWKB, as _read_frame wants."""
        return sa.table(self._where.table, *(sa.column(c) for c in self.columns), schema=self._where.schema)

    def _attributes(self) -> list[str]:
        return [c for c in self.columns if c != self.geometry]

    def _tile_srid(self, tiles: gpd.GeoDataFrame) -> int:
        """The EPSG code the tiles are clipped in (their CRS; the table's when they carry none)."""
        if tiles.crs is None:
            return self.srid
        srid = tiles.crs.to_epsg()
        if srid is None:
            raise InputError(f"{self._where.name}: tile footprints are in {_crs_name(tiles.crs)}, which has "
                             "no EPSG code PostGIS can transform to; warp the image to an EPSG CRS")
        return srid


def _read_frame(query, conn, geometry: str, crs: CRS | None) -> gpd.GeoDataFrame:
    """``geopandas.read_postgis``, with the geometry column (hex EWKB) parsed in one vectorised call: geopandas
    parses it one row at a time, over half the time of a per-tile label query (benchmarks/label_query.py)."""
    frame = pd.read_sql(query, conn)
    frame[geometry] = shapely.from_wkb(frame[geometry].to_numpy())
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=crs)


def _clip(geom, tile_geom, boxes: bool):
    """Box footprints: rows whose bounding box lies inside (``@``) are taken as they are, the others cut
    with ``ST_ClipByBox2D``; otherwise ``ST_Intersection``."""
    if boxes:
        return sa.case((geom.op("@")(tile_geom), geom), else_=sa.func.ST_ClipByBox2D(geom, sa.func.Box2D(tile_geom)))
    return sa.func.ST_Intersection(geom, tile_geom)


class PostGISTableDataset(AbstractDataset[gpd.GeoDataFrame, gpd.GeoDataFrame | PostGISTable]):
    """A GeoDataFrame in a PostGIS table; a save replaces (or appends to) it in one transaction.

    Saving (``mode: replace``, the default) drops and recreates the table inside one transaction, so a
    failure mid-save leaves the previous content intact; the geometry column is ``geometry(Geometry, SRID)``
    with the frame's SRID and a GiST index; list and dict columns are stored as JSON text. ``mode: append``
    with ``replace_where: [run_id, image_id]`` first deletes the rows whose values in those columns match the
    incoming frame's, in the same transaction: runs with other run ids keep their rows. ``create_schema:
    true`` creates a missing schema. Loading gives the frame with its CRS; ``load_args: {bbox: [minx, miny,
    maxx, maxy]}`` keeps the rows intersecting that box; ``lazy: true`` returns a ``PostGISTable`` handle
    (``crs``, ``read(bbox)``, ``clip_to(tiles)``) that runs the per-tile label query in the database.

    Connection: ``credentials`` with ``con``, an SQLAlchemy URL, as Kedro passes it from
    ``conf/local/credentials.yml``; without credentials the URL is built from ``FOOTPRINTS_PG_HOST``,
    ``FOOTPRINTS_PG_PORT``, ``FOOTPRINTS_PG_DB``, ``FOOTPRINTS_PG_USER`` and ``FOOTPRINTS_PG_PASSWORD``
    (each falling back to libpq's ``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``, ``PGPASSWORD``).

    Example catalog entries::

        # conf/local/credentials.yml
        footprints_db:
          con: postgresql+psycopg2://footprints:secret@db.example.org:5432/footprints

        # conf/base/catalog.yml
        label_database:
          type: footprints.datasets.postgis.PostGISTableDataset
          table: labels
          schema: footprints
          credentials: footprints_db
          lazy: true

        predictions:
          type: footprints.datasets.postgis.PostGISTableDataset
          table: predictions
          credentials: footprints_db
          save_args:
            mode: append
            replace_where: [run_id, image_id]
            create_schema: true

    Example in Python::

        dataset = PostGISTableDataset(table="labels", credentials={"con": url})
        dataset.save(gdf)
        handle = PostGISTableDataset(table="labels", credentials={"con": url}, lazy=True).load()
        clipped = handle.clip_to(tiles)  # tile_id + label attributes + clipped geometry
    """

    DEFAULT_LOAD_ARGS: ClassVar[dict[str, Any]] = {"bbox": None}
    DEFAULT_SAVE_ARGS: ClassVar[dict[str, Any]] = {"mode": "replace", "replace_where": [],
                                                   "create_schema": False}

    def __init__(self, *, table: str, schema: str = "public", credentials: dict[str, Any] | None = None,
                 lazy: bool = False, load_args: dict[str, Any] | None = None,
                 save_args: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._where = _Where(_url(credentials), _identifier(schema, "schema"), _identifier(table, "table"))
        self._lazy = lazy
        self._load_args = _merge(self.DEFAULT_LOAD_ARGS, load_args, "load_args")
        self._save_args = _merge(self.DEFAULT_SAVE_ARGS, save_args, "save_args")
        if self._save_args["mode"] not in ("replace", "append"):
            raise InputError(f"{self._where.name}: save_args mode must be replace or append, "
                             f"not {self._save_args['mode']!r}")
        self._engine_cache: sa.Engine | None = None
        self.metadata = metadata

    def load(self) -> gpd.GeoDataFrame | PostGISTable:
        """The frame (bbox-filtered if load_args say so), or with ``lazy`` a handle that queries in place."""
        handle = self._open()
        return handle if self._lazy else handle.read(self._load_args["bbox"])

    def save(self, data: gpd.GeoDataFrame) -> None:
        """Replace the table (or delete the matching rows and append) in one transaction: all or nothing."""
        data = _with_plain_columns(data.set_crs(_srid(data, self._where), allow_override=True))
        match_columns = self._replace_where(data)
        try:
            with _transaction(self._engine(), self._where) as conn:
                self._prepare_schema(conn)
                if self._save_args["mode"] == "replace" or not _columns(conn, self._where):
                    sa.Table(self._where.table, sa.MetaData(), schema=self._where.schema).drop(
                        conn, checkfirst=True)
                    _create_table(conn, data, self._where)
                elif match_columns:
                    _delete_matching(conn, self._where, data, match_columns)
                data.to_postgis(self._where.table, conn, schema=self._where.schema, if_exists="append",
                                index=False)
        except InputError:
            raise
        except (sa.exc.DBAPIError, psycopg2.Error, ValueError) as err:  # the transaction was rolled back
            first_line = scrub((str(err).strip().splitlines() or [type(err).__name__])[0], self._where.url)
            raise InputError(f"{self._where.name} in {self._where.server}: save failed, the table is left as it was: "
                             f"{first_line}") from None

    def preview(self, nrows: int = 20) -> TablePreview:
        """The first rows as a table for kedro-viz, geometry shown as WKT."""
        frame = self._open()._select(limit=nrows)
        wkt = frame.geometry.to_wkt(rounding_precision=2)
        frame = pd.DataFrame(frame).assign(**{frame.geometry.name: wkt})
        return TablePreview(frame.to_dict(orient="split"))

    def _exists(self) -> bool:
        with _transaction(self._engine(), self._where) as conn:
            return bool(_columns(conn, self._where))

    def _describe(self) -> dict[str, Any]:
        url = self._where.url
        return {"table": self._where.table, "schema": self._where.schema,
                "host": url.host if url else None, "port": url.port if url else None,
                "database": url.database if url else None, "lazy": self._lazy,
                "load_args": self._load_args, "save_args": self._save_args}

    def _engine(self) -> sa.Engine:
        """Made on first use: building the catalog connects to nothing and the dataset stays picklable."""
        if self._where.url is None or not self._where.url.database:
            raise InputError(f"{self._where.name}: no PostGIS database given: set credentials with con "
                             f"(postgresql+psycopg2://user:password@host:port/db) or "
                             f"{', '.join(ENV_VARIABLES)}")
        if self._engine_cache is None:
            self._engine_cache = sa.create_engine(self._where.url, connect_args={"connect_timeout": 10},
                                                  hide_parameters=True, pool_pre_ping=True)
        return self._engine_cache

    def _open(self) -> PostGISTable:
        """Look up the table's columns (in order), geometry column and CRS."""
        engine = self._engine()
        with _transaction(engine, self._where) as conn:
            columns = _columns(conn, self._where)
            if not columns:
                raise InputError(f"{self._where.name}: no such table in {self._where.server}; save it first "
                                 f"(kedro run) or fix table/schema in the catalog")
            geometries = {row[0]: row[1:] for row in conn.execute(_GEOMETRY_COLUMNS, _names(self._where))}
        geometry = next((c for c in columns if c in geometries), None)
        if geometry is None:
            raise InputError(f"{self._where.name}: the table has no geometry column")
        srid, auth_name, auth_srid = geometries[geometry]
        crs = CRS.from_authority(auth_name, auth_srid) if auth_name else None
        return PostGISTable(engine, self._where, columns, geometry, srid, crs)

    def _replace_where(self, data: gpd.GeoDataFrame) -> list[str]:
        """The columns that say which old rows an appended frame supersedes; checked before connecting."""
        columns = list(self._save_args["replace_where"] or [])
        missing = [c for c in columns if c not in data.columns]
        if missing:
            raise InputError(f"{self._where.name}: save_args replace_where names {missing}, "
                             f"which the frame does not have")
        return columns

    def _prepare_schema(self, conn: sa.Connection) -> None:
        """Schemas are created only on request: a typo in the catalog should not silently make a new one."""
        if conn.execute(_HAS_SCHEMA, {"schema": self._where.schema}).first():
            return
        if not self._save_args["create_schema"]:
            raise InputError(f"{self._where.name}: schema {self._where.schema!r} does not exist in "
                             f"{self._where.server}; create it or set save_args create_schema: true")
        conn.execute(sa.schema.CreateSchema(self._where.schema, if_not_exists=True))



@contextlib.contextmanager
def _transaction(engine: sa.Engine, where: _Where) -> Iterator[sa.Connection]:
    """A connection in a transaction on a PostGIS database; a failure to connect is a one-line InputError."""
    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as err:
        raise where.connection_error(err) from None
    with conn, conn.begin():
        if not conn.execute(_HAS_POSTGIS).first():
            raise InputError(f"{where.server} has no PostGIS (needed for {where.name}): run CREATE EXTENSION "
                             f"postgis; in it (as its owner or a superuser)")
        yield conn


def _columns(conn: sa.Connection, where: _Where) -> list[str]:
    return [row[0] for row in conn.execute(_COLUMNS, _names(where))]


def _names(where: _Where) -> dict[str, str]:
    return {"schema": where.schema, "table": where.table}


def _create_table(conn: sa.Connection, data: gpd.GeoDataFrame, where: _Where) -> None:
    """CREATE TABLE with pandas-like column types, ``geometry(Geometry, SRID)`` and a GiST index.

    Not left to to_postgis: it would type the column by the frame's first geometry type (a later MultiPolygon
    would not fit) and name the index idx_<table>_<column>, too long for a 63-byte table name; SQLAlchemy's
    naming convention truncates and hashes the index name instead.
    """
    columns = [sa.Column(name, Geometry("GEOMETRY", srid=data.crs.to_epsg(), spatial_index=False)
                         if name == data.geometry.name else _column_type(data[name]))
               for name in data.columns]
    table = sa.Table(where.table, sa.MetaData(), *columns, schema=where.schema)
    sa.Index(None, table.c[data.geometry.name], postgresql_using="gist")
    table.create(conn)


def _srid(data: gpd.GeoDataFrame, where: _Where) -> int:
    """The frame's EPSG code: the table's column is typed with it, so a frame must have one."""
    if data.crs is None:
        raise InputError(f"{where.name}: the frame has no CRS; set one (set_crs) before saving")
    srid = data.crs.to_epsg()
    if srid is None:
        raise InputError(f"{where.name}: the frame's CRS has no EPSG code; reproject it (to_crs) first")
    return srid


def _column_type(series: pd.Series) -> sa.types.TypeEngine:
    """The SQL type pandas' to_sql would choose; anything else (strings, JSON text) is TEXT."""
    if pd.api.types.is_bool_dtype(series):
        return sa.Boolean()
    if pd.api.types.is_integer_dtype(series):
        return sa.BigInteger()
    if pd.api.types.is_float_dtype(series):
        return sa.Float(precision=53)
    if pd.api.types.is_datetime64_any_dtype(series):
        return sa.DateTime(timezone=getattr(series.dtype, "tz", None) is not None)
    return sa.Text()


def _delete_matching(conn: sa.Connection, where: _Where, data: gpd.GeoDataFrame, columns: list[str]) -> None:
    """DELETE the rows whose ``columns`` equal one of the incoming frame's value combinations."""
    table = sa.table(where.table, *(sa.column(c) for c in columns), schema=where.schema)
    values = data[columns].drop_duplicates().astype(object).to_numpy().tolist()  # Python scalars, not numpy
    if len(columns) == 1:
        condition = table.c[columns[0]].in_([v[0] for v in values])
    else:
        condition = sa.tuple_(*table.c).in_([tuple(v) for v in values])
    conn.execute(sa.delete(table).where(condition))


CON_FORMAT = ("postgresql+psycopg2://user:password@host:port/database, with @ : / % in the user name or "
              "password percent-encoded (%40 %3A %2F %25)")


def _url(credentials: dict[str, Any] | None) -> sa.URL | None:
    """The URL from credentials' ``con``, else from the environment (None when it names no database).

    A ``con`` that does not parse cleanly is refused without quoting any part of it: an unescaped ``@`` or
    ``/`` in the password moves part of it into what would be printed as the host, port or database.
    """
    if credentials:
        if not credentials.get("con"):
            raise InputError(f"PostGISTableDataset credentials need con: {CON_FORMAT}")
        url = _parsed(str(credentials["con"]))
        if url is None:
            raise InputError("PostGISTableDataset credentials con (conf/local/credentials.yml) is not a "
                             f"valid SQLAlchemy URL; write it as {CON_FORMAT}")
        return url
    env = {name: os.environ.get(name) or os.environ.get(fallback) for name, fallback in
           zip(ENV_VARIABLES, ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"), strict=True)}
    port = env["FOOTPRINTS_PG_PORT"]
    if port is not None and not port.isdigit():
        raise InputError(f"FOOTPRINTS_PG_PORT must be a port number, not {port!r}")
    if not env["FOOTPRINTS_PG_DB"]:
        return None
    return sa.URL.create("postgresql+psycopg2", username=env["FOOTPRINTS_PG_USER"],
                         password=env["FOOTPRINTS_PG_PASSWORD"], port=int(port) if port else None,
                         host=env["FOOTPRINTS_PG_HOST"] or "localhost", database=env["FOOTPRINTS_PG_DB"])


def _parsed(con: str) -> sa.URL | None:
    """``con`` as a URL, or ``None`` when it is ambiguous (an unescaped ``@``, ``/`` or ``?`` in the user
    name or password) or does not parse."""
    scheme, _, rest = con.partition("://")
    authority = rest.split("?", 1)[0]
    userinfo = authority.rpartition("@")[0]
    if not scheme or authority.count("@") > 1 or "/" in userinfo:
        return None
    try:
        url = sa.make_url(con)
        _ = url.port  # a port that is not a number raises here
    except (sa.exc.ArgumentError, ValueError, TypeError):
        return None
    if url.host and any(c in url.host for c in "@/"):
        return None
    return url


def scrub(text: str, url: sa.URL | None) -> str:
    """``text`` with the password (as given and percent-encoded) replaced by ``***``."""
    if url is None or not url.password:
        return text
    password = str(url.password)
    for form in {password, quote_plus(password), quote(password, safe="")}:
        text = text.replace(form, "***")
    return text


def _identifier(name: Any, setting: str) -> str:
    """A table/schema name PostgreSQL keeps as given: non-empty, no NUL, at most 63 bytes.

    SQLAlchemy quotes it wherever quoting changes its meaning (capitals, quotes, spaces, keywords).
    """
    if not isinstance(name, str) or not name or "\x00" in name or len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise InputError(f"PostGISTableDataset {setting} {name!r}: must be a non-empty name of at most "
                         f"{MAX_IDENTIFIER_BYTES} bytes without NUL characters")
    return name


def _merge(defaults: dict[str, Any], given: dict[str, Any] | None, setting: str) -> dict[str, Any]:
    """Defaults overlaid with the user's args; an unknown key is a typo worth one clear error."""
    unknown = sorted(set(given or {}) - set(defaults))
    if unknown:
        raise InputError(f"PostGISTableDataset {setting}: unknown key(s) {unknown}; "
                         f"known: {sorted(defaults)}")
    return {**defaults, **(given or {})}


def _crs_name(crs: CRS | None) -> str:
    return crs.to_string() if crs is not None else "no CRS"


def _bbox(bbox: Any) -> list[float]:
    """Four floats for ST_MakeEnvelope's bound parameters, or one clear error."""
    try:
        values = [float(v) for v in bbox]
    except (TypeError, ValueError):
        values = []
    if len(values) != 4:
        raise InputError(f"load_args bbox must be [minx, miny, maxx, maxy], not {bbox!r}")
    return values
