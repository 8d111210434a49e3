//! Pure layer arithmetic and the thin tar: which layers a host lacks (by chain ID), and a
//! `docker load` tar that holds the manifest, the config and only those layers.
//!
//! A layer is identified on a host by its chain ID, the digest of its own diff ID and of every
//! layer below it: `chain(L0) = diff(L0)`, `chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln))`.
//! A host that holds an image holds the chain of each of its layers. Once a lower layer is
//! missing, every layer above it has a chain the host cannot have, so it is sent too.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The chain IDs of an image's layers, bottom first, from their diff IDs (`sha256:…`).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chain: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match chain.last() {
            None => diff.clone(),
            Some(below) => format!("sha256:{}", hex(&Sha256::digest(format!("{below} {diff}").as_bytes()))),
        };
        chain.push(next);
    }
    chain
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every chain ID a host holds, from the diff IDs of each image it holds.
pub fn held_chains<'a>(images: impl IntoIterator<Item = &'a [String]>) -> HashSet<String> {
    images.into_iter().flat_map(chain_ids).collect()
}

/// The index of the lowest layer `held` lacks (`diff_ids.len()` when it has them all): that
/// layer and every one above it must be sent.
pub fn first_missing(diff_ids: &[String], held: &HashSet<String>) -> usize {
    chain_ids(diff_ids).iter().position(|chain| !held.contains(chain)).unwrap_or(diff_ids.len())
}

/// What an exported image tar holds, read from its `manifest.json` and config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportIndex {
    /// The image ID (`sha256:` + the config's digest).
    pub image_id: String,
    /// The config file's path in the tar.
    pub config: String,
    /// Each layer's file path in the tar, bottom first, with its diff ID.
    pub layers: Vec<(String, String)>,
    /// Bytes of each layer file, in the same order.
    pub layer_sizes: Vec<u64>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    layers: Vec<String>,
}

/// Read the index of a `docker save` tar of one image: `manifest.json`, the config it names
/// (`<hex>.json` at the top in Docker's classic layout, `blobs/sha256/<hex>` in the OCI layout of
/// Docker 25 and later), a folder or blob per layer.
pub fn index_export(file: &mut std::fs::File) -> Result<ExportIndex> {
    let bad = |reason: String| Error::invalid("image export", reason);
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    // Two passes: the manifest comes last, and names the config, which may come before it.
    let mut config_name: Option<String> = None;
    for pass in 0..2 {
        file.seek(SeekFrom::Start(0)).map_err(|e| io("reading the exported image", e))?;
        let mut archive = tar::Archive::new(&mut *file);
        for entry in archive.entries_with_seek().map_err(|e| io("reading the exported image", e))? {
            let mut entry = entry.map_err(|e| io("reading the exported image", e))?;
            let path = entry.path().map_err(|e| io("reading the exported image", e))?.to_string_lossy().into_owned();
            let wanted = match pass {
                0 => path == "manifest.json",
                _ => config_name.as_deref() == Some(path.as_str()),
            };
            if pass == 0 {
                sizes.insert(path.clone(), entry.size());
            }
            if wanted && entry.size() < 16 << 20 {
                let mut text = Vec::new();
                entry.read_to_end(&mut text).map_err(|e| io("reading the exported image", e))?;
                files.insert(path, text);
            }
        }
        if pass == 0 {
            let manifest = files.get("manifest.json").ok_or_else(|| bad("it has no manifest.json".into()))?;
            let entries: Vec<ManifestEntry> = serde_json::from_slice(manifest).map_err(|e| bad(format!("manifest.json: {e}")))?;
            config_name = entries.first().map(|e| e.config.clone());
        }
    }
    let manifest = files.get("manifest.json").ok_or_else(|| bad("it has no manifest.json".into()))?;
    let entries: Vec<ManifestEntry> = serde_json::from_slice(manifest).map_err(|e| bad(format!("manifest.json: {e}")))?;
    let [entry] = entries.as_slice() else { return Err(bad(format!("it holds {} images, not one", entries.len()))) };
    let config = files.get(&entry.config).ok_or_else(|| bad(format!("its config {} is missing", entry.config)))?;
    let parsed: serde_json::Value = serde_json::from_slice(config).map_err(|e| bad(format!("its config: {e}")))?;
    let diff_ids: Vec<String> =
        parsed["rootfs"]["diff_ids"].as_array().map(|ids| ids.iter().filter_map(|d| d.as_str().map(str::to_owned)).collect()).unwrap_or_default();
    if diff_ids.len() != entry.layers.len() {
        return Err(bad(format!("the manifest lists {} layers, the config {}", entry.layers.len(), diff_ids.len())));
    }
    let layer_sizes = entry.layers.iter().map(|l| sizes.get(l).copied().unwrap_or(0)).collect();
    let image_id = format!("sha256:{}", hex(&Sha256::digest(config)));
    Ok(ExportIndex { image_id, config: entry.config.clone(), layers: entry.layers.iter().cloned().zip(diff_ids).collect(), layer_sizes })
}

impl ExportIndex {
    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|(_, d)| d.clone()).collect()
    }

    /// The tar entries of layer `index`: its file, and in the classic layout its folder
    /// (`<id>/`, `<id>/VERSION`, `<id>/json`).
    fn belongs_to_layer(&self, path: &str, index: usize) -> bool {
        let file = &self.layers[index].0;
        match file.strip_suffix("/layer.tar") {
            Some(folder) => path == file || path.trim_end_matches('/') == folder || path.starts_with(&format!("{folder}/")),
            None => path == file,
        }
    }

    /// Bytes of the layers from `from` up.
    pub fn bytes_from(&self, from: usize) -> u64 {
        self.layer_sizes.iter().skip(from).sum()
    }
}

/// Write to `out` the tar `export` holds, less the layers below `from` (the target has them):
/// the manifest and config always go. With `tags`, the manifest names those tags instead of the
/// export's own (and the legacy `repositories` file is left out). Returns the layer bytes written.
pub fn write_thin(export: &mut std::fs::File, index: &ExportIndex, from: usize, tags: Option<&[String]>, out: &mut dyn Write) -> Result<u64> {
    export.seek(SeekFrom::Start(0)).map_err(|e| io("reading the exported image", e))?;
    let mut builder = tar::Builder::new(out);
    let mut archive = tar::Archive::new(&mut *export);
    let mut layer_bytes = 0;
    for entry in archive.entries_with_seek().map_err(|e| io("reading the exported image", e))? {
        let mut entry = entry.map_err(|e| io("reading the exported image", e))?;
        let path = entry.path().map_err(|e| io("reading the exported image", e))?.to_string_lossy().into_owned();
        if (0..from).any(|i| index.belongs_to_layer(&path, i)) || (tags.is_some() && path == "repositories") {
            continue;
        }
        if let (Some(tags), "manifest.json") = (tags, path.as_str()) {
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(|e| io("reading the exported image", e))?;
            let mut manifest: serde_json::Value = serde_json::from_slice(&text).map_err(|e| Error::invalid("image export", format!("manifest.json: {e}")))?;
            manifest[0]["RepoTags"] = serde_json::json!(tags);
            let text = manifest.to_string();
            let mut header = entry.header().clone();
            header.set_size(text.len() as u64);
            header.set_cksum();
            builder.append_data(&mut header, &path, text.as_bytes()).map_err(|e| io("sending the image", e))?;
            continue;
        }
        if (from..index.layers.len()).any(|i| index.layers[i].0 == path) {
            layer_bytes += entry.size();
        }
        let mut header = entry.header().clone();
        if let Some(link) = entry.link_name().map_err(|e| io("reading the exported image", e))? {
            let link = link.into_owned();
            builder.append_link(&mut header, &path, link).map_err(|e| io("sending the image", e))?;
        } else {
            builder.append_data(&mut header, &path, &mut entry).map_err(|e| io("sending the image", e))?;
        }
    }
    builder.finish().map_err(|e| io("sending the image", e))?;
    Ok(layer_bytes)
}

fn io(context: &str, source: std::io::Error) -> Error {
    Error::Io { context: context.to_owned(), source }
}

/// Read `dir`'s `.dockerignore` patterns (comments and blank lines dropped).
pub fn dockerignore(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(".dockerignore"))
        .map(|text| text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(|l| l.trim_start_matches("./").to_owned()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", hex(&[n; 32]))
    }

    #[test]
    fn chain_ids_follow_dockers_rule() {
        let diffs = vec![d(1), d(2), d(3)];
        let chain = chain_ids(&diffs);
        assert_eq!(chain[0], d(1), "the bottom layer's chain is its diff");
        let second = format!("sha256:{}", hex(&Sha256::digest(format!("{} {}", d(1), d(2)).as_bytes())));
        assert_eq!(chain[1], second);
        assert_eq!(chain_ids(&[]), Vec::<String>::new());
    }

    #[test]
    fn what_a_host_lacks() {
        let v1 = vec![d(1), d(2), d(3)];
        let v2 = vec![d(1), d(2), d(4)];
        let other_base = vec![d(9), d(2), d(3)];
        type Case<'a> = (&'a [&'a [String]], &'a [String], usize);
        let cases: &[Case] = &[
            (&[], &v1, 0),                 // an empty host gets everything
            (&[&v1], &v1, 3),              // it has it all
            (&[&v1], &v2, 2),              // only the changed top layer
            (&[&other_base], &v1, 0),      // same diffs on another base: other chains
            (&[&v1[..1]], &v2, 1),         // only the base
            (&[&v2, &other_base], &v1, 2), // the best of several images
        ];
        for (held, wanted, expected) in cases {
            let held = held_chains(held.iter().copied());
            assert_eq!(first_missing(wanted, &held), *expected, "{held:?} {wanted:?}");
        }
    }

    fn export_tar(layers: &[(&str, &[u8])]) -> (std::fs::File, ExportIndex) {
        let mut builder = tar::Builder::new(Vec::new());
        let mut diff_ids = Vec::new();
        let mut files = Vec::new();
        for (folder, data) in layers {
            for (name, body) in [("VERSION", &b"1.0"[..]), ("json", b"{}"), ("layer.tar", data)] {
                let mut header = tar::Header::new_gnu();
                header.set_size(body.len() as u64);
                header.set_mode(0o644);
                builder.append_data(&mut header, format!("{folder}/{name}"), body).unwrap();
            }
            diff_ids.push(format!("sha256:{}", hex(&Sha256::digest(data))));
            files.push(format!("{folder}/layer.tar"));
        }
        let config = serde_json::json!({"rootfs": {"type": "layers", "diff_ids": diff_ids}}).to_string();
        let config_name = format!("{}.json", hex(&Sha256::digest(config.as_bytes())));
        let manifest = serde_json::json!([{"Config": config_name, "RepoTags": ["t:1"], "Layers": files}]).to_string();
        for (name, body) in [(config_name.as_str(), config.as_bytes()), ("manifest.json", manifest.as_bytes())] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, body).unwrap();
        }
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&builder.into_inner().unwrap()).unwrap();
        let index = index_export(&mut file).unwrap();
        (file, index)
    }

    #[test]
    fn the_thin_tar_keeps_manifest_config_and_the_missing_layers() {
        let (mut file, index) = export_tar(&[("aaa", &[1u8; 3000]), ("bbb", &[2u8; 2000]), ("ccc", &[3u8; 1000])]);
        assert_eq!(index.layers.len(), 3);
        assert_eq!(index.layer_sizes, vec![3000, 2000, 1000]);
        assert!(index.image_id.starts_with("sha256:"));
        let mut thin = Vec::new();
        assert_eq!(write_thin(&mut file, &index, 2, None, &mut thin).unwrap(), 1000);
        let names: Vec<String> = tar::Archive::new(&thin[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        assert!(names.contains(&"manifest.json".to_owned()) && names.contains(&index.config));
        assert!(names.contains(&"ccc/layer.tar".to_owned()));
        assert!(!names.iter().any(|n| n.starts_with("aaa") || n.starts_with("bbb")), "{names:?}");
        let mut full = Vec::new();
        assert_eq!(write_thin(&mut file, &index, 0, Some(&["shop:9".to_owned()]), &mut full).unwrap(), 6000);
        let mut manifest = String::new();
        for entry in tar::Archive::new(&full[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_string_lossy() == "manifest.json" {
                entry.read_to_string(&mut manifest).unwrap();
            }
        }
        assert!(manifest.contains("\"RepoTags\":[\"shop:9\"]"), "{manifest}");
        assert_eq!(index.bytes_from(1), 3000);
    }

    #[test]
    fn an_export_that_is_not_one_image_is_refused() {
        let mut file = tempfile::tempfile().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        builder.append_data(&mut header, "index.json", &b"{}"[..]).unwrap();
        file.write_all(&builder.into_inner().unwrap()).unwrap();
        assert!(index_export(&mut file).unwrap_err().to_string().contains("manifest.json"));
    }

    #[test]
    fn the_oci_layout_of_newer_dockers_is_read_too() {
        // Docker 25+: the config and layers as blobs, named by the manifest.
        let mut builder = tar::Builder::new(Vec::new());
        let layer = vec![5u8; 1500];
        let diff = format!("sha256:{}", hex(&Sha256::digest(&layer)));
        let config = serde_json::json!({"rootfs": {"type": "layers", "diff_ids": [diff]}}).to_string();
        let config_hex = hex(&Sha256::digest(config.as_bytes()));
        let layer_name = format!("blobs/sha256/{}", &diff[7..]);
        let manifest = serde_json::json!([{"Config": format!("blobs/sha256/{config_hex}"), "RepoTags": [], "Layers": [layer_name]}]).to_string();
        for (name, body) in
            [(format!("blobs/sha256/{config_hex}"), config.as_bytes()), (layer_name.clone(), &layer[..]), ("manifest.json".into(), manifest.as_bytes())]
        {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, body).unwrap();
        }
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&builder.into_inner().unwrap()).unwrap();
        let index = index_export(&mut file).unwrap();
        assert_eq!(index.image_id, format!("sha256:{config_hex}"));
        assert_eq!(index.layers, vec![(layer_name, diff)]);
        assert_eq!(index.layer_sizes, vec![1500]);
    }
}
