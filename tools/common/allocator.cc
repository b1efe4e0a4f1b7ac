// jemalloc's options for every tool (see README, Dependencies).
// - oversize_threshold: blocks of 1 MiB and more (librdkafka's fetch
//   buffers) come from an arena that gives them back at once. With
//   jemalloc's 8 MiB, kconsume reading 1M messages peaked at 55 MiB instead
//   of 29 with glibc's allocator; with 1 MiB, at 31.
// - dirty_decay_ms: other memory freed goes back after a second unused, not
//   10 s; 100 ms cost kwindow 3 % in page faults as it frees and refills
//   its panes.
// jemalloc reads this symbol when it starts; MALLOC_CONF in the environment
// still overrides it.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "oversize_threshold:1048576,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
