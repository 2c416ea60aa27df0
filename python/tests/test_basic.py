import pytest

import raft
from raft import Configuration, RaftError, Server, SPARE, STANDBY, VOTER

RAFT_DUPLICATEID = 3
RAFT_MALFORMED = 6


def test_strerror_texts():
    assert raft.strerror(1) == "out of memory"
    assert raft.strerror(6) == "encoded data is malformed"
    assert raft.strerror(20) == "Invalid parameter"
    assert raft.strerror(0) == "unknown error"


def test_version_number():
    assert raft.version_number() == 2201


def test_configuration_round_trip():
    conf = Configuration(
        [Server(1, "127.0.0.1:9001", VOTER), Server(2, "127.0.0.1:9002", STANDBY), Server(3, "x", SPARE)]
    )
    data = conf.encode()
    assert len(data) % 8 == 0
    assert Configuration.decode(data) == conf


def test_configuration_encoding_matches_craft():
    data = Configuration([Server(1, "addr1", VOTER)]).encode()
    assert data == bytes([1]) + (1).to_bytes(8, "little") + (1).to_bytes(8, "little") + b"addr1\0" + bytes([1])


def test_malformed_configuration_raises_with_code():
    data = Configuration([Server(1, "a", VOTER)]).encode()
    with pytest.raises(RaftError) as err:
        Configuration.decode(data[:12])
    assert err.value.code == RAFT_MALFORMED
    assert err.value.message == "encoded data is malformed"


def test_duplicate_id_raises():
    with pytest.raises(RaftError) as err:
        Configuration([Server(1, "a"), Server(1, "b")]).encode()
    assert err.value.code == RAFT_DUPLICATEID
