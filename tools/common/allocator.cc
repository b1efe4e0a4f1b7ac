// jemalloc's options for every tool (see README, Dependencies).
// - oversize_threshold: blocks of 1 MiB and more (librdkafka's fetch
//   buffers) come from an arena that gives them back at once. With
//   jemalloc's 8 MiB, kconsume reading 1M messages peaked at 55 MiB instead
//   of 29 with glibc's allocator; with 1 MiB, at 30.
// - dirty_decay_ms: other memory freed goes back after a second unused, not
//   10 s; 100 ms cost kwindow 3 % in page faults as it frees and refills
//   its panes. muzzy_decay_ms:0 (jemalloc's default, said here): what is
//   given back is given back at once (MADV_DONTNEED), not left to the
//   kernel (MADV_FREE), which would keep it in the peak.
// - retain:false: memory given back is unmapped. jemalloc keeps it mapped by
//   default and, where it cannot read /proc/sys/vm/overcommit_memory (the
//   systemd units' ProcSubset=pid hides /proc/sys), takes its pages away
//   with mmap(PROT_NONE), one mapping each: kagg with --state over 5M keys
//   peaked at 490-500 mappings that way against 320, and a service that
//   runs for months could reach vm.max_map_count. Unmapped: 310-380 with
//   /proc/sys hidden, for 1.00x kwindow and kagg and 1.03x kconsume's CPU.
// jemalloc reads this symbol when it starts; MALLOC_CONF in the environment
// still overrides it.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "oversize_threshold:1048576,dirty_decay_ms:1000,muzzy_decay_ms:0,retain:false";
}
