use super::*;
use crate::analytics::points::PointFields;
use crate::analytics::test_data::{layer_of, ping};
use crate::model::tile::{lonlat_to_mercator, mercator_to_lonlat};

fn key() -> NoiseKey {
    NoiseKey::from_bytes([3; 32])
}

fn policy(k: u32, max_groups: u32) -> PrivatePolicy {
    PrivatePolicy {
        epsilon: Epsilon::new(1.0).expect("eps"),
        k: KAnonymity::new(k).expect("k"),
        max_groups,
    }
}

#[test]
fn morton_codes_round_trip_and_nest() {
    for (x, y) in [
        (0, 0),
        (1, 0),
        (0, 1),
        (5, 9),
        (16_580, 12_238),
        ((1 << 24) - 1, 77),
    ] {
        assert_eq!(unmorton(morton(x, y)), (x, y));
        // A parent's code is its children's code shifted by two bits.
        assert_eq!(morton(x, y) >> 2, morton(x / 2, y / 2));
    }
}

/// With no noise to speak of (huge ε), counts are the bounded distinct persons.
#[test]
fn each_person_counts_in_at_most_max_groups_groups() {
    let exact = PrivatePolicy {
        epsilon: Epsilon::new(1e6).expect("eps"),
        ..policy(1, 2)
    };
    // Person 0 in groups 1..=5 (twice in 1), person 1 in group 1, person 2 in 2.
    let mut pairs: Vec<(u32, u64)> = (1..=5).map(|g| (0, g)).collect();
    pairs.extend([(0, 1), (1, 1), (2, 2), (NO_PERSON, 3)]);
    let released = release_person_counts(pairs, &exact, &key(), "t");
    let total: u64 = released.groups().iter().map(|g| g.1).sum();
    assert_eq!(
        total,
        2 + 1 + 1,
        "person 0 kept in 2 groups, the others in 1"
    );
    assert!(released.groups().windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn the_same_release_twice_is_identical_and_thresholded_on_noisy_values() {
    let pairs: Vec<(u32, u64)> = (0..400u32).map(|p| (p, u64::from(p % 40))).collect();
    let a = release_person_counts(pairs.clone(), &policy(10, 1), &key(), "ctx");
    let b = release_person_counts(pairs.clone(), &policy(10, 1), &key(), "ctx");
    assert_eq!(a, b);
    assert!(a.groups().iter().all(|g| g.1 >= 10));
    // Every group has 10 true persons: noise moves some below 10 and others above.
    let noisy: Vec<u64> = a.groups().iter().map(|g| g.1).collect();
    assert!(
        noisy.iter().any(|n| *n != 10),
        "counts are noisy: {noisy:?}"
    );
    assert!(
        a.groups().len() < 40,
        "some groups fall under k after noise"
    );
    let other = release_person_counts(pairs, &policy(10, 1), &key(), "another query");
    assert_ne!(a, other, "another context draws other noise");
}

#[test]
fn delta_follows_the_threshold_and_noise() {
    let d = delta(1, 1.0, 10);
    assert!((d - 0.5 * (-9.0f64).exp()).abs() < 1e-12);
    assert!(delta(2, 1.0, 10) > d);
    assert!(delta(1, 1.0, 20) < d);
}

/// A tile's answer sums the cells under it; a finer tile reads the cell above it.
#[test]
fn grid_answers_read_the_level_under_or_above_the_tile() {
    let centre = lonlat_to_mercator(2.17, 41.39);
    let features = (0..300u64)
        .map(|i| {
            #[expect(clippy::cast_precision_loss, reason = "test data")]
            let d = (i % 30) as f64 * 15.0;
            let at = mercator_to_lonlat(centre.0 + d, centre.1 - d);
            ping(i + 1, at, None, &format!("p{i}"), None)
        })
        .collect();
    let layer = layer_of(features);
    let fields = PointFields {
        person: Some("device"),
        ..PointFields::default()
    };
    let cols = PointColumns::build(&layer, &fields).expect("columns");
    let rows = Selection::Range(0..cols.len());
    let exact = PrivatePolicy {
        epsilon: Epsilon::new(1e6).expect("eps"),
        ..policy(1, 1)
    };
    let release = grid_release(&cols, &rows, 17, &exact, &key(), "grid");
    let total: u64 = release.groups().iter().map(|g| g.1).sum();
    assert_eq!(total, 300);
    let tile = crate::model::tile::TileRange::covering(
        &MercatorRect {
            min_x: centre.0,
            min_y: centre.1,
            max_x: centre.0,
            max_y: centre.1,
        },
        14,
    )
    .expect("range")
    .iter()
    .next()
    .expect("tile");
    let answer = GridAnswer::for_tile(14, 64);
    assert_eq!(
        answer,
        GridAnswer {
            level: 17,
            cell_zoom: 17
        }
    );
    let cells = answer.cells(&release, tile);
    assert_eq!(cells.iter().map(|c| c.1).sum::<u64>(), 300);
    assert!(cells.iter().all(|c| c.0.z == 17));
    // Coarser than every level: level-11 cells summed into zoom-8 cells.
    let coarse = GridAnswer::for_tile(2, 64);
    assert_eq!(
        coarse,
        GridAnswer {
            level: 11,
            cell_zoom: 8
        }
    );
    let r11 = grid_release(&cols, &rows, 11, &exact, &key(), "grid11");
    let parent = TileId::new(2, u64::from(tile.x >> 12), u64::from(tile.y >> 12)).expect("tile");
    let summed = coarse.cells(&r11, parent);
    assert_eq!(summed.len(), 1);
    assert_eq!((summed[0].0.z, summed[0].1), (8, 300));
    // A tile finer than the level reads the one cell holding it.
    let fine = TileId::new(19, u64::from(tile.x) << 5, u64::from(tile.y) << 5).expect("tile");
    let above = GridAnswer::for_tile(19, 64).cells(&release, fine);
    assert!(above.len() <= 1 && above.iter().all(|c| c.0.z == 17));
}

#[test]
fn bounding_on_several_threads_keeps_the_same_groups() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pairs: Vec<(u32, u64)> = (0..50_000)
        .map(|_| ((next() % 700) as u32, next() % 90))
        .collect();
    let mut one = bound_contributions(pairs.clone(), 2, 7, 1);
    one.sort_unstable();
    for threads in [2, 3, 4] {
        let mut many = bound_contributions(pairs.clone(), 2, 7, threads);
        many.sort_unstable();
        assert_eq!(one, many, "{threads} threads");
    }
    assert_eq!(one.len(), 700 * 2, "every person keeps two of their groups");
}
