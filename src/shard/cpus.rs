//! The CPUs this process may run on (its affinity mask among the online
//! CPUs), which the shard count and the executors' placement follow, and how
//! a list of CPU or shard numbers is written. Reads the kernel's masks; imports
//! nothing of the router.

/// The CPUs this process may run on, ascending: its affinity mask
/// (`sched_getaffinity`, which taskset, systemd `CPUAffinity=` and container
/// cpusets set) among the online CPUs. Every online CPU if the mask cannot be
/// read; empty only if neither can.
pub fn allowed_cpus() -> Vec<usize> {
    let online = online_cpus();
    let Some(mask) = affinity_mask() else {
        return online;
    };
    let allowed: Vec<usize> = online
        .iter()
        .copied()
        .filter(|&c| c < libc::CPU_SETSIZE as usize && cpu_isset(c, &mask))
        .collect();
    if allowed.is_empty() { online } else { allowed }
}

/// The online CPUs, ascending (glommio's set is a hash set: its order
/// changes from one run to the next).
fn online_cpus() -> Vec<usize> {
    ascending(
        glommio::CpuSet::online()
            .map(|s| s.iter().map(|c| c.cpu).collect())
            .unwrap_or_default(),
    )
}

/// `cpus` sorted, each once.
fn ascending(mut cpus: Vec<usize>) -> Vec<usize> {
    cpus.sort_unstable();
    cpus.dedup();
    cpus
}

/// The calling thread's CPU affinity mask (at start: the process's).
fn affinity_mask() -> Option<libc::cpu_set_t> {
    // SAFETY: `set` is a plain bit set, zero-initialised, and the size passed
    // is its own; the kernel writes at most that many bytes.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let rc = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        (rc == 0).then_some(set)
    }
}

/// Whether `cpu` (below `CPU_SETSIZE`) is in `set`.
fn cpu_isset(cpu: usize, set: &libc::cpu_set_t) -> bool {
    // SAFETY: `cpu` is below CPU_SETSIZE (checked by the caller), so the
    // bit lies inside `set`.
    unsafe { libc::CPU_ISSET(cpu, set) }
}

/// `[0, 1, 2, 3, 6]` → `0-3,6`: CPU or shard numbers, ascending, as messages
/// and `junction status` write them.
pub fn compact_list(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        out.push(if cpus[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", cpus[i])
        });
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_compact() {
        assert_eq!(compact_list(&[0]), "0");
        assert_eq!(compact_list(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(compact_list(&[1, 3, 4, 7, 8, 9]), "1,3-4,7-9");
        assert_eq!(compact_list(&[]), "");
    }

    #[test]
    fn cpu_lists_are_ascending() {
        // glommio hands the online CPUs over in hash-set order.
        assert_eq!(ascending(vec![3, 1, 2, 0, 1]), vec![0, 1, 2, 3]);
        let allowed = allowed_cpus();
        assert!(allowed.is_sorted(), "{allowed:?}");
    }

    #[test]
    fn allowed_cpus_are_this_threads_mask_among_the_online_cpus() {
        let online = online_cpus();
        let allowed = allowed_cpus();
        assert!(!allowed.is_empty());
        assert!(
            allowed.iter().all(|c| online.contains(c)),
            "{allowed:?} ⊄ {online:?}"
        );
        let mask = affinity_mask().expect("readable here");
        for c in &online {
            assert_eq!(allowed.contains(c), cpu_isset(*c, &mask), "CPU {c}");
        }
    }
}
