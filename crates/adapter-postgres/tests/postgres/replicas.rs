//! Two `PgStore`s over one database: two pools, as two `serve` replicas would hold.

use std::sync::Arc;

use photo_core::etag::Precondition;
use photo_core::ports::{PhotoStore, StoreError};

use crate::support::{database, key, open, photo};

#[tokio::test(flavor = "multi_thread")]
async fn a_write_through_one_replica_is_read_through_the_other() {
    let db = database().await;
    let (a, b) = (open(db.url()).await, open(db.url()).await);
    let k = key("replicated");

    let written = a
        .put(&k, photo("from a"), &Precondition::None)
        .await
        .unwrap();
    let read = b.get(&k).await.unwrap().expect("b sees a's photo");
    assert_eq!(read, written, "same bytes, format, size and ETag on b");
    assert_eq!(b.keys().await.unwrap(), vec![k.clone()]);

    // A conditional write on b with the tag a returned; a sees it.
    let second = b
        .put(
            &k,
            photo("from b"),
            &Precondition::OneOf(vec![written.etag.clone()]),
        )
        .await
        .unwrap();
    assert_eq!(a.get(&k).await.unwrap(), Some(second.clone()));

    // A delete on a with b's tag; b sees it gone.
    a.delete(&k, &Precondition::OneOf(vec![second.etag.clone()]))
        .await
        .unwrap();
    assert_eq!(b.get(&k).await.unwrap(), None);
    assert_eq!(b.keys().await.unwrap(), vec![]);
    assert_eq!(
        b.delete(&k, &Precondition::None).await,
        Err(StoreError::NotFound)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_if_match_race_across_two_replicas_has_exactly_one_winner() {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 5;
    let db = database().await;
    let replicas = Arc::new([open(db.url()).await, open(db.url()).await]);
    let k = key("raced");
    for round in 0..ROUNDS {
        let base = replicas[0]
            .put(
                &k,
                photo(&format!("round {round} base")),
                &Precondition::None,
            )
            .await
            .unwrap();
        let condition = Precondition::OneOf(vec![base.etag.clone()]);
        let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (replicas, k, condition, barrier) = (
                    Arc::clone(&replicas),
                    k.clone(),
                    condition.clone(),
                    Arc::clone(&barrier),
                );
                tokio::spawn(async move {
                    let p = photo(&format!("round {round} writer {w}"));
                    barrier.wait().await;
                    replicas[w % 2].put(&k, p, &condition).await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for writer in writers {
            match writer.await.unwrap() {
                Ok(stored) => winners.push(stored),
                Err(StoreError::PreconditionFailed) => {}
                Err(e) => panic!("a losing writer must get PreconditionFailed, got {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {} winners", winners.len());
        for replica in replicas.iter() {
            assert_eq!(replica.get(&k).await.unwrap().as_ref(), Some(&winners[0]));
        }

        // The same race for deletes holding the winner's tag.
        let condition = Precondition::OneOf(vec![winners[0].etag.clone()]);
        let deleters: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (replicas, k, condition) =
                    (Arc::clone(&replicas), k.clone(), condition.clone());
                tokio::spawn(async move { replicas[w % 2].delete(&k, &condition).await })
            })
            .collect();
        let mut deleted = 0;
        for deleter in deleters {
            match deleter.await.unwrap() {
                Ok(()) => deleted += 1,
                Err(StoreError::PreconditionFailed) => {}
                Err(e) => panic!("a losing delete must get PreconditionFailed, got {e:?}"),
            }
        }
        assert_eq!(deleted, 1, "round {round}: {deleted} deletes succeeded");
        assert_eq!(replicas[1].get(&k).await.unwrap(), None);
    }
}
