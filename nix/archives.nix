# nixpkgs' pullImage, exportImage and mergeImages, built by strata (pull, export, merge).
{ lib, defaultArch, run, ... }:
let
  fixName = builtins.replaceStrings [ "/" ":" ] [ "-" "-" ];
  fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

  # nixpkgs' lib.fetchers.withNormalizedHash: one of `hash` (SRI), `sha256`, or outputHash(+Algo);
  # "" is the fake hash, so a first build says the real one.
  normalizedHash = imageName: { hash, sha256, outputHash, outputHashAlgo }:
    let
      given = builtins.filter (x: x != null) [ hash sha256 outputHash ];
      orFake = h: if h == "" then fakeHash else h;
    in
    if builtins.length given != 1 then throw "pullImage ${imageName}: give exactly one of hash, sha256 or outputHash"
    else if hash != null then { outputHash = orFake hash; outputHashAlgo = null; }
    else if sha256 != null then (if sha256 == "" then { outputHash = fakeHash; outputHashAlgo = null; } else { outputHash = sha256; outputHashAlgo = "sha256"; })
    else { outputHash = orFake outputHash; inherit outputHashAlgo; };
in
{
  # An image from a registry, pinned by digest, as an uncompressed docker-archive: a fixed-output
  # derivation (Nix checks the file's hash; strata checks every blob against the digest).
  pullImage =
    { imageName
    , imageDigest
    , hash ? null
    , sha256 ? null
    , outputHash ? null
    , outputHashAlgo ? null
    , os ? "linux"
    , arch ? defaultArch
    , finalImageName ? imageName
    , finalImageTag ? "latest"
    , tlsVerify ? true
    , name ? fixName "docker-image-${finalImageName}-${finalImageTag}.tar"
    }:
    let
      pinned = normalizedHash imageName { inherit hash sha256 outputHash outputHashAlgo; };
      image = run "strata" (lib.withoutNulls {
        inherit name;
        inherit (pinned) outputHash outputHashAlgo;
        outputHashMode = "flat";
        # As nixpkgs' fetchers: a proxy the caller set is used.
        impureEnvVars = [ "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy" "HTTP_PROXY" "HTTPS_PROXY" "FTP_PROXY" "ALL_PROXY" "NO_PROXY" ];
        strataArgs = [
          "pull" "${imageName}@${imageDigest}" "-o" (builtins.placeholder "out")
          "--os" os "--arch" arch "--final-name" finalImageName "--final-tag" finalImageTag
          "--tls-verify" (if tlsVerify then "true" else "false")
        ];
      });
    in
    image // { imageName = finalImageName; imageTag = finalImageTag; inherit imageDigest; };

  # The image's filesystem as one uncompressed tar (nixpkgs unpacks it in a VM; strata needs none).
  # `diskSize` (MiB) bounds what the export may unpack, as the VM's disk bounds nixpkgs'.
  exportImage = { fromImage, fromImageName ? null, fromImageTag ? null, diskSize ? 1024, name ? fromImage.name }:
    run "strata" {
      inherit name;
      strataArgs = [ "export" (lib.storeString fromImage) "-o" (builtins.placeholder "out") "--disk-size" (toString diskSize) ]
        ++ (if fromImageName != null && fromImageTag != null then [ "--from-image-name" fromImageName "--from-image-tag" fromImageTag ] else [ ]);
    };

  # Several image archives (each maybe holding several images) as one, compressed as the last one.
  mergeImages = images:
    run "strata" {
      name = "merge-docker-images";
      strataArgs = [ "merge" ] ++ map lib.storeString images ++ [ "-o" (builtins.placeholder "out") ];
    };
}
