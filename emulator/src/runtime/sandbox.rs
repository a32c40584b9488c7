//! A container group's sandbox: the container that holds the group's network
//! namespace (its address, `localhost` and published ports) for as long as the
//! group lives, whichever of its containers come and go. Every container of
//! the group joins it, as Kubernetes' pods join their "pause" container.
//!
//! Nothing can be pulled on an offline machine, so azemu makes the sandbox's
//! image itself: one layer holding `/pause`, a static executable assembled
//! here byte by byte, which blocks SIGTERM and SIGINT, waits for one of them
//! and exits 0. It uses no libc and runs as PID 1 (a signal blocked and waited
//! for reaches PID 1 even though its default action would not). Only x86_64 and
//! aarch64 engines get one ([`image`]); elsewhere a group's containers join its
//! first container, as before.

use serde_json::json;
use std::collections::HashMap;

/// Where the executable is loaded (a page boundary for 4K and 64K pages alike).
const BASE: u64 = 0x40_0000;
/// The ELF header (64 bytes) and its one program header (56): the code follows.
const HEADERS: u64 = 64 + 56;

/// x86_64: block {SIGINT, SIGTERM}, wait for one (again when interrupted), exit 0.
/// Linux's x86_64 syscalls: number in eax, arguments in rdi, rsi, rdx, r10.
#[rustfmt::skip]
const X86_64: &[u8] = &[
    0x68, 0x02, 0x40, 0x00, 0x00,       // push 0x4002: the set on the stack, bits 1 (SIGINT) and 14 (SIGTERM)
    0xb8, 0x0e, 0x00, 0x00, 0x00,       // mov eax, 14: rt_sigprocmask
    0x31, 0xff,                         // xor edi, edi: SIG_BLOCK
    0x48, 0x89, 0xe6,                   // mov rsi, rsp: the set
    0x31, 0xd2,                         // xor edx, edx: the old set is not wanted
    0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // mov r10d, 8: the size of a set
    0x0f, 0x05,                         // syscall
    // wait:
    0xb8, 0x80, 0x00, 0x00, 0x00,       // mov eax, 128: rt_sigtimedwait
    0x48, 0x89, 0xe7,                   // mov rdi, rsp: the set
    0x31, 0xf6,                         // xor esi, esi: no siginfo
    0x31, 0xd2,                         // xor edx, edx: no timeout
    0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // mov r10d, 8: the size of a set
    0x0f, 0x05,                         // syscall
    0x85, 0xc0,                         // test eax, eax
    0x78, 0xe8,                         // js wait (-24): an error (EINTR), wait again
    0xb8, 0xe7, 0x00, 0x00, 0x00,       // mov eax, 231: exit_group
    0x31, 0xff,                         // xor edi, edi: status 0
    0x0f, 0x05,                         // syscall
];

/// aarch64, the same steps. Linux's arm64 syscalls: number in x8, arguments in
/// x0..x3; instructions are 32-bit words, little-endian.
const AARCH64: &[u32] = &[
    0xd2880049, // mov x9, #0x4002: the set, bits 1 (SIGINT) and 14 (SIGTERM)
    0xf81f0fe9, // str x9, [sp, #-16]!: on the stack (kept 16-byte aligned)
    0xd2800000, // mov x0, #0: SIG_BLOCK
    0x910003e1, // mov x1, sp: the set
    0xd2800002, // mov x2, #0: the old set is not wanted
    0xd2800103, // mov x3, #8: the size of a set
    0xd28010e8, // mov x8, #135: rt_sigprocmask
    0xd4000001, // svc #0
    // wait:
    0x910003e0, // mov x0, sp: the set
    0xd2800001, // mov x1, #0: no siginfo
    0xd2800002, // mov x2, #0: no timeout
    0xd2800103, // mov x3, #8: the size of a set
    0xd2801128, // mov x8, #137: rt_sigtimedwait
    0xd4000001, // svc #0
    0xb7ffff40, // tbnz x0, #63, wait (-6 words): an error (EINTR), wait again
    0xd2800000, // mov x0, #0: status 0
    0xd2800bc8, // mov x8, #94: exit_group
    0xd4000001, // svc #0
];

/// The sandbox's executable for an engine of `arch` (Go's names, as image
/// configs and `docker info` use them): `None` for an architecture azemu has
/// no code for.
pub fn executable(arch: &str) -> Option<Vec<u8>> {
    match arch {
        // EM_X86_64
        "amd64" => Some(elf(62, X86_64)),
        // EM_AARCH64
        "arm64" => Some(elf(
            183,
            &AARCH64
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .collect::<Vec<u8>>(),
        )),
        _ => None,
    }
}

/// The architecture azemu was built for, in Go's names: the engine's, unless
/// `DOCKER_HOST` names another machine (the sandbox then fails to start, and
/// the group does without one).
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A static ELF executable of one loadable segment: the ELF header, one
/// program header, then `code`, the whole file mapped readable and executable at [`BASE`].
fn elf(machine: u16, code: &[u8]) -> Vec<u8> {
    let size = HEADERS + code.len() as u64;
    let mut f = Vec::with_capacity(size as usize);
    // e_ident: the magic, 64-bit (2), little-endian (1), ELF version 1, the
    // System V ABI (0), its version (0), padding to 16 bytes.
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC, an executable
    f.extend_from_slice(&machine.to_le_bytes()); // e_machine
    f.extend_from_slice(&1u32.to_le_bytes()); // e_version
    f.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // e_entry: the code's first byte
    f.extend_from_slice(&64u64.to_le_bytes()); // e_phoff: the program header follows
    f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff: no section headers
    f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    f.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
    f.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
    f.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    f.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    f.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    f.extend_from_slice(&5u32.to_le_bytes()); // p_flags: PF_R | PF_X
    f.extend_from_slice(&0u64.to_le_bytes()); // p_offset: from the file's start
    f.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    f.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    f.extend_from_slice(&size.to_le_bytes()); // p_filesz
    f.extend_from_slice(&size.to_le_bytes()); // p_memsz
    f.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    f.extend_from_slice(code);
    f
}

/// A `docker save` archive of the sandbox image for `arch`, tagged `tag`,
/// its config carrying `labels`: one layer holding `/pause`, its entrypoint.
pub fn image(arch: &str, tag: &str, labels: &HashMap<String, String>) -> Option<Vec<u8>> {
    let exe = executable(arch)?;
    let layer = tar_of(&[("pause", 0o755, &exe)]);
    let layer_digest = crate::oci::blobs::digest_of(&layer);
    let config = json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    })
    .to_string();
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let config_name = format!(
        "{}.json",
        hex(&crate::oci::blobs::digest_of(config.as_bytes()))
    );
    let layer_name = format!("{}/layer.tar", hex(&layer_digest));
    let manifest =
        json!([{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]).to_string();
    Some(tar_of(&[
        (config_name.as_str(), 0o644, config.as_bytes()),
        (layer_name.as_str(), 0o644, &layer),
        ("manifest.json", 0o644, manifest.as_bytes()),
    ]))
}

/// A tar of `(name, mode, content)` files, owned by root.
fn tar_of(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for (name, mode, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        // Writing to memory does not fail.
        let _ = out.append_data(&mut h, name, *data);
    }
    out.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The executable for this machine, run: it blocks SIGINT and SIGTERM
    /// (as the kernel reports), keeps running, and exits 0 on SIGTERM.
    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn the_native_executable_waits_for_sigterm_and_exits_0() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("azemu-sandbox-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pause");
        std::fs::write(&path, executable(native_arch()).unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new(&path).spawn().unwrap();
        let syscall = format!("/proc/{}/syscall", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // Polled until it waits in rt_sigtimedwait, the signals blocked
        // (SIGTERM sent before would kill it).
        let waiting = if cfg!(target_arch = "x86_64") {
            "128 "
        } else {
            "137 "
        };
        loop {
            let s = std::fs::read_to_string(&syscall).unwrap();
            if s.starts_with(waiting) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{s}");
            std::thread::yield_now();
        }
        assert!(child.try_wait().unwrap().is_none(), "it ended by itself");
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let ended = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "SIGTERM did not end it"
            );
            std::thread::yield_now();
        };
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(ended.code(), Some(0), "{ended:?}");
    }

    #[test]
    fn each_architecture_gets_an_elf_of_its_machine() {
        for (arch, machine) in [("amd64", 62u16), ("arm64", 183)] {
            let exe = executable(arch).unwrap();
            assert_eq!(&exe[..4], b"\x7fELF");
            assert_eq!(u16::from_le_bytes([exe[18], exe[19]]), machine);
            let entry = u64::from_le_bytes(exe[24..32].try_into().unwrap());
            assert_eq!(entry, BASE + HEADERS);
            let filesz = u64::from_le_bytes(exe[96..104].try_into().unwrap());
            assert_eq!(filesz, exe.len() as u64);
        }
        assert!(executable("s390x").is_none());
    }
}
