import pytest

from debugnet.errors import Exists, InvalidArgument, NoDevice, NotSupported
from debugnet.ifnet import IfCloner, Ifnet, IfOps, IfTable, split_name
from debugnet.ifnet.ioctl import set_metric


def _cloner(name: str = "tap", destroyable: bool = True) -> IfCloner:
    def create(table: IfTable, unit: int) -> Ifnet:
        return table.attach(Ifnet(f"{name}{unit}", IfOps(output=lambda ifp, f: None)))

    def destroy(table: IfTable, ifp: Ifnet) -> None:
        table.detach(ifp)

    return IfCloner(name, create, destroy if destroyable else None)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("tap0", ("tap", 0)),
        ("tap12", ("tap", 12)),
        ("vlan007", ("vlan", 7)),
        ("a1", ("a", 1)),
        ("tap-1", ("tap-", 1)),
        ("tap999999999", ("tap", 999999999)),
    ],
)
def test_split_name(name: str, parsed: tuple[str, int]) -> None:
    assert split_name(name) == parsed


@pytest.mark.parametrize(
    "name",
    ["tap", "0tap", "", "tap1x", "tap1-", "tap9999999999"],
)
def test_split_name_rejects_what_if_clone_lookup_rejects(name: str) -> None:
    with pytest.raises(InvalidArgument):
        split_name(name)


def test_split_name_rejects_a_name_too_long_for_an_interface() -> None:
    # Deviation (docs/ifnet.md): if_clone_lookup accepts a 16-character name
    # and leaves the failure to the interface; we refuse it at once.
    with pytest.raises(InvalidArgument):
        split_name("abcdefghijklmno1")


def test_create_list_lookup_destroy() -> None:
    table = IfTable()
    table.cloners.attach(_cloner("tap"))
    table.cloners.attach(_cloner("lo", destroyable=False))
    assert table.cloners.list() == ["lo", "tap"]  # newest first, as if.c
    cloner, unit = table.cloners.lookup("tap3")
    assert (cloner.name, unit) == ("tap", 3)
    ifp = table.cloners.create("tap3")
    assert table.unit("tap3") is ifp
    table.cloners.destroy("tap3")
    assert table.unit("tap3") is None and ifp.deactivated


def test_clone_errnos() -> None:
    table = IfTable()
    table.cloners.attach(_cloner("tap"))
    table.cloners.attach(_cloner("lo", destroyable=False))
    table.cloners.create("tap0")
    with pytest.raises(Exists):
        table.cloners.create("tap0")
    with pytest.raises(InvalidArgument):
        table.cloners.create("gre0")  # no such cloner
    with pytest.raises(InvalidArgument):
        table.cloners.create("tap")  # no unit
    with pytest.raises(InvalidArgument):
        table.cloners.destroy("gre0")
    with pytest.raises(NoDevice):
        table.cloners.destroy("tap9")
    table.cloners.create("lo0")
    with pytest.raises(NotSupported):
        table.cloners.destroy("lo0")
    with pytest.raises(Exists):
        table.cloners.attach(_cloner("tap"))


def test_destroy_disables_ioctls_before_the_driver_runs() -> None:
    table = IfTable()
    seen: list[type[BaseException]] = []

    def destroy(table: IfTable, ifp: Ifnet) -> None:
        try:
            set_metric(ifp, 3)
        except NoDevice as exc:
            seen.append(type(exc))
        table.detach(ifp)

    base = _cloner("tap")
    table.cloners.attach(IfCloner("tap", base.create, destroy))
    table.cloners.create("tap0")
    table.cloners.destroy("tap0")
    assert seen == [NoDevice]


def test_detached_cloner_is_gone() -> None:
    table = IfTable()
    cloner = _cloner("tap")
    table.cloners.attach(cloner)
    table.cloners.detach(cloner)
    assert table.cloners.list() == []
    with pytest.raises(InvalidArgument):
        table.cloners.create("tap0")
