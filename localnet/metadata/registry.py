"""Editing a decoded V15 metadata document: find types, add types, variants, storage.

Works on the plain data of :func:`localnet.metadata.v15.decode`. Types are
looked up by their scale-info shape (a primitive, ``Vec<T>``, ``Option<T>``,
a path), and a new one is appended with the next id only when no existing
type has that shape, so an addition reuses subtensor's own type ids wherever
the recorded registry already has them.
"""

from __future__ import annotations

from typing import Any

Field = tuple[str | None, int, str | None]  # (name, type id, type name)


class MetadataEditor:
    def __init__(self, metadata: dict[str, Any]):
        self.md = metadata
        self.types: dict[int, dict[str, Any]] = {t["id"]: t["type"] for t in metadata["types"]}

    # --- lookups ---------------------------------------------------------------

    def by_path(self, *path: str) -> int:
        found = [i for i, t in self.types.items() if tuple(t["path"]) == path]
        if len(found) != 1:
            raise LookupError(f"{len(found)} types at path {'::'.join(path)}")
        return found[0]

    def prim(self, name: str) -> int:
        return self._find_or_add([], [], {"primitive": name})

    def vec(self, inner: int) -> int:
        return self._find_or_add([], [], {"sequence": {"type": inner}})

    def compact(self, inner: int) -> int:
        return self._find_or_add([], [], {"compact": {"type": inner}})

    def option(self, inner: int) -> int:
        variants = [
            {"name": "None", "fields": [], "index": 0, "docs": []},
            {"name": "Some", "fields": [_field(None, inner, None)], "index": 1, "docs": []},
        ]
        return self._find_or_add(
            ["Option"], [{"name": "T", "type": inner}], {"variant": {"variants": variants}}
        )

    def tuple(self, *items: int) -> int:
        return self._find_or_add([], [], {"tuple": list(items)})

    def btree_map(self, key: int, value: int) -> int:
        """``BTreeMap<K, V>`` as scale-info describes it: a newtype over ``Vec<(K, V)>``."""
        return self._find_or_add(
            ["BTreeMap"],
            [{"name": "K", "type": key}, {"name": "V", "type": value}],
            {"composite": {"fields": [_field(None, self.vec(self.tuple(key, value)), None)]}},
        )

    def bounded_bytes(self) -> int:
        """``BoundedVec<u8, S>``: one type whatever the bound (scale-info skips ``S``)."""
        u8 = self.prim("u8")
        return self._find_or_add(
            ["bounded_collections", "bounded_vec", "BoundedVec"],
            [{"name": "T", "type": u8}, {"name": "S", "type": None}],
            {"composite": {"fields": [_field(None, self.vec(u8), "Vec<T>")]}},
        )

    def prim_account(self) -> int:
        return self.by_path("sp_core", "crypto", "AccountId32")

    def netuid(self) -> int:
        """The recorded runtime's own netuid type: the key of ``SubtensorModule.Tempo``."""
        for entry in self.pallet("SubtensorModule")["storage"]["entries"]:
            if entry["name"] == "Tempo":
                return entry["type"]["Map"]["key"]
        raise LookupError("no SubtensorModule.Tempo")

    def pallet(self, name: str) -> dict[str, Any]:
        for pallet in self.md["pallets"]:
            if pallet["name"] == name:
                return pallet
        raise LookupError(f"no pallet {name}")

    def variants(self, enum_id: int) -> list[dict[str, Any]]:
        return self.types[enum_id]["def"]["variant"]["variants"]

    # --- additions --------------------------------------------------------------

    def add_type(
        self,
        path: list[str],
        definition: dict[str, Any],
        params: list[dict[str, Any]] | None = None,
        docs: list[str] | None = None,
    ) -> int:
        new_id = max(self.types) + 1
        ty = {"path": list(path), "params": params or [], "def": definition, "docs": docs or []}
        self.md["types"].append({"id": new_id, "type": ty})
        self.types[new_id] = ty
        return new_id

    def composite(self, path: list[str], fields: list[Field], docs: str = "") -> int:
        body = {"composite": {"fields": [_field(*f) for f in fields]}}
        return self.add_type(path, body, docs=[docs] if docs else [])

    def enum(self, path: list[str], variants: list[tuple[str, int, list[Field], str]]) -> int:
        body = {
            "variant": {
                "variants": [
                    {
                        "name": name,
                        "fields": [_field(*f) for f in fields],
                        "index": index,
                        "docs": [docs] if docs else [],
                    }
                    for name, index, fields, docs in variants
                ]
            }
        }
        return self.add_type(path, body)

    def add_variant(
        self, enum_id: int, name: str, index: int, fields: list[Field], docs: str = ""
    ) -> None:
        variants = self.variants(enum_id)
        if any(v["name"] == name for v in variants):
            raise ValueError(f"variant {name} already exists")
        if any(v["index"] == index for v in variants):
            raise ValueError(f"variant index {index} is taken (adding {name})")
        variants.append(
            {
                "name": name,
                "fields": [_field(*f) for f in fields],
                "index": index,
                "docs": [docs] if docs else [],
            }
        )
        variants.sort(key=lambda v: v["index"])

    def free_index(self, enum_id: int, wanted: int) -> int:
        """``wanted`` if no variant uses it, else the next index after the last one."""
        used = {v["index"] for v in self.variants(enum_id)}
        return wanted if wanted not in used else max(used) + 1

    def add_storage(
        self,
        pallet: str,
        name: str,
        value: int,
        *,
        key: int | None = None,
        hasher: str = "Identity",
        optional: bool = False,
        default: bytes = b"\x00",
        docs: str = "",
    ) -> None:
        entries = self.pallet(pallet)["storage"]["entries"]
        if any(e["name"] == name for e in entries):
            raise ValueError(f"{pallet}.{name} already exists")
        kind: Any = {"Plain": value}
        if key is not None:
            kind = {"Map": {"hashers": [hasher], "key": key, "value": value}}
        entries.append(
            {
                "name": name,
                "modifier": "Optional" if optional else "Default",
                "type": kind,
                "default": default,
                "docs": [docs] if docs else [],
            }
        )

    def add_api_method(
        self, api: str, method: str, inputs: list[tuple[str, int]], output: int, docs: str = ""
    ) -> None:
        for entry in self.md["apis"]:
            if entry["name"] == api:
                entry["methods"].append(
                    {
                        "name": method,
                        "inputs": [{"name": n, "ty": t} for n, t in inputs],
                        "output": output,
                        "docs": [docs] if docs else [],
                    }
                )
                return
        raise LookupError(f"no runtime API {api}")

    # --- internals -----------------------------------------------------------------

    def _find_or_add(self, path: list[str], params: list[dict[str, Any]], definition: Any) -> int:
        for i, t in self.types.items():
            if t["path"] == path and t["params"] == params and t["def"] == definition:
                return i
        return self.add_type(path, definition, params)


def _field(name: str | None, ty: int, type_name: str | None) -> dict[str, Any]:
    return {"name": name, "ty": ty, "type_name": type_name, "docs": []}
