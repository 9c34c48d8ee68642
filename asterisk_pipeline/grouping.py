"""One union-find for every grouping of UniqueIds: the batch assembly's links
(``conversations.assemble``) and the import's open groups (``sync.importer.OpenConversations``).

Pure and small on purpose: both callers need the same three verbs (which group is this in, join
two groups, what are the groups), so the rule that decides grouping lives in one place and the
callers keep only what they track beside it (the assembly its edges, the import its keys).
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class UnionFind(Generic[T]):
    """Disjoint groups of items, each with a root and its members.

    ``rank``: the root a union keeps is the item with the smaller rank (the assembly keeps its
    earliest UniqueId as the representative); without one, the larger group's root (cheapest
    for groups that grow row by row).
    """

    __slots__ = ("members", "parent", "rank")

    def __init__(self, items: Iterable[T] = (), rank: Callable[[T], Any] | None = None) -> None:
        self.parent: dict[T, T] = {}
        self.members: dict[T, list[T]] = {}  # root → its items, in the order they joined
        self.rank = rank
        for item in items:
            self.add(item)

    def __contains__(self, item: object) -> bool:
        return item in self.parent

    def add(self, item: T) -> None:
        """A group of its own (nothing when ``item`` is known)."""
        if item not in self.parent:
            self.parent[item] = item
            self.members[item] = [item]

    def find(self, item: T) -> T:
        """The root of ``item``'s group (path halving)."""
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: T, b: T) -> tuple[T, T] | None:
        """Join the groups of ``a`` and ``b``: (root kept, root absorbed), None when one already."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        rank, members = self.rank, self.members
        if rank is not None:
            if rank(rb) < rank(ra):
                ra, rb = rb, ra
        elif len(members[ra]) < len(members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        members[ra].extend(members.pop(rb))
        return ra, rb

    def components(self) -> dict[T, list[T]]:
        """Root → members, groups in the order of their first item added, members likewise."""
        groups: dict[T, list[T]] = {}
        for item in self.parent:
            root = self.find(item)
            found = groups.get(root)
            if found is None:
                groups[root] = [item]
            else:
                found.append(item)
        return groups

    def drop(self, root: T) -> list[T]:
        """Forget a whole group; its items."""
        items = self.members.pop(root)
        parent = self.parent
        for item in items:
            del parent[item]
        return items
