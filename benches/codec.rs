//! Micro-benchmarks of the codecs: wire messages (AppendEntries with entries, results),
//! on-disk entry batches, and C-Raft's checksum. Run with `cargo bench --bench codec`.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use raft::codec::checksum::checksum;
use raft::codec::disk::batch::{decode_batch, encode_batch};
use raft::codec::wire::{
    decode_message, encode_message, AppendEntries, AppendEntriesResult, Limits, WireMessage,
};
use raft::codec::Entry;
use raft::core::EntryType;

fn entries(n: usize, len: usize) -> Vec<Entry> {
    (0..n).map(|i| Entry::new(7, EntryType::Command, vec![i as u8; len])).collect()
}

fn append_entries(n: usize, len: usize) -> WireMessage {
    WireMessage::AppendEntries(AppendEntries {
        version: 0,
        term: 7,
        prev_log_index: 1000,
        prev_log_term: 7,
        leader_commit: 990,
        entries: entries(n, len),
        read_round: 0,
    })
}

fn bench_wire(c: &mut Criterion) {
    let limits = Limits::default();
    for (n, len) in [(1usize, 64usize), (64, 64), (64, 1024)] {
        let msg = append_entries(n, len);
        let bytes = Bytes::from(encode_message(&msg).unwrap());
        let mut group = c.benchmark_group(format!("wire/append_entries/{n}x{len}B"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("encode", |b| b.iter(|| encode_message(black_box(&msg)).unwrap()));
        group.bench_function("decode", |b| {
            b.iter(|| decode_message(black_box(&bytes), &limits).unwrap())
        });
        group.finish();
    }
    let result = WireMessage::AppendEntriesResult(AppendEntriesResult {
        version: 2,
        term: 7,
        rejected: 0,
        last_log_index: 1064,
        features: 1,
        capacity: 100,
        read_echo: 0,
    });
    let bytes = Bytes::from(encode_message(&result).unwrap());
    c.bench_function("wire/append_entries_result/encode", |b| {
        b.iter(|| encode_message(black_box(&result)).unwrap())
    });
    c.bench_function("wire/append_entries_result/decode", |b| {
        b.iter(|| decode_message(black_box(&bytes), &limits).unwrap())
    });
}

fn bench_disk(c: &mut Criterion) {
    for (n, len) in [(64usize, 64usize), (64, 1024)] {
        let batch = entries(n, len);
        let bytes = Bytes::from(encode_batch(&batch).unwrap());
        let mut group = c.benchmark_group(format!("disk/batch/{n}x{len}B"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("encode", |b| b.iter(|| encode_batch(black_box(&batch)).unwrap()));
        group.bench_function("decode", |b| b.iter(|| decode_batch(black_box(&bytes)).unwrap()));
        group.finish();
    }
}

fn bench_checksum(c: &mut Criterion) {
    for len in [64usize, 4096, 65536] {
        let data = vec![0xA5u8; len];
        let mut group = c.benchmark_group("checksum");
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("{len}B"), |b| b.iter(|| checksum(black_box(&data))));
        group.finish();
    }
}

criterion_group!(benches, bench_wire, bench_disk, bench_checksum);
criterion_main!(benches);
