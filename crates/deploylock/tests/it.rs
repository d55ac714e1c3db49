//! The deploy lock against a throwaway cluster (`testbench::cluster`).
//!
//! - `prisma_url_takes_the_lock_and_a_second_is_busy`: Prisma's `DATABASE_URL` form works,
//!   a second holder is refused with the first one named, and release frees it.

use std::time::Duration;

use camino::Utf8PathBuf;
use testbench::cluster::Cluster;

#[test]
fn prisma_url_takes_the_lock_and_a_second_is_busy() {
    let cluster = Cluster::shared();
    let db = cluster.database();
    let url = format!("{}?schema=public&connection_limit=5&pool_timeout=10&sslmode=prefer", db.url);
    let dir =
        Utf8PathBuf::from_path_buf(std::env::temp_dir().join(format!("drydock-lock-{}", std::process::id()))).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let env = format!("it{}", std::process::id());
    let held = deploylock::acquire(&url, &dir, &env, "test one", Duration::ZERO).unwrap();
    match deploylock::acquire(&url, &dir, &env, "test two", Duration::from_millis(300)) {
        Err(deploylock::LockError::Busy { holder: Some(h), session: Some(s), .. }) => {
            assert_eq!(h.command, "test one");
            assert!(s.contains("drydock deploy lock"), "{s}");
        }
        Err(e) => panic!("expected busy, got {e}"),
        Ok(_) => panic!("the lock was taken twice"),
    }
    held.release();
    deploylock::acquire(&url, &dir, &env, "test three", Duration::ZERO).unwrap().release();
    let _ = std::fs::remove_dir_all(&dir);
}
