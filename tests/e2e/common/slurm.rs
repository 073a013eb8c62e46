//! A real single-node Slurm cluster for the tests: Debian's slurmctld,
#![allow(dead_code)]
//! slurmd and munge, started by scripts/slurm-cluster.sh in a temp folder
//! on free ports, and stopped (no daemon left) when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SlurmCluster {
    pub dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-cluster.sh")
}

impl SlurmCluster {
    pub fn start() -> SlurmCluster {
        let dir = tempfile::tempdir().unwrap();
        let (ctld, slurmd) = (free_port(), free_port());
        let status = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path())
            .env("SER_SLURMCTLD_PORT", ctld.to_string())
            .env("SER_SLURMD_PORT", slurmd.to_string())
            .status()
            .expect("bash scripts/slurm-cluster.sh");
        let cluster = SlurmCluster { dir };
        assert!(
            status.success(),
            "scripts/slurm-cluster.sh start failed (Slurm and munge come from scripts/setup.sh)"
        );
        cluster
    }

    /// SLURM_CONF for clients (sbatch, squeue, and ser's driver).
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", self.conf());
        command
    }

    /// `squeue` lines `id|STATE` for every job the controller knows.
    pub fn queue(&self) -> Vec<(String, String)> {
        let out = self
            .command("squeue")
            .args(["--noheader", "--states=all", "--format=%i|%T"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('|'))
            .map(|(id, state)| (id.to_string(), state.to_string()))
            .collect()
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}
