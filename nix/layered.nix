# nixpkgs' streamLayeredImage, buildLayeredImage and buildLayeredImageWithNixDb, built by strata.
#
# As in nixpkgs, a conf derivation (`<name>-conf`) holds what the image is made of: here strata's
# spec (nixpkgs' argument names) and the references graph Nix exported for everything the arguments
# name (contents, config, the scripts). Without `tag`, the tag is the hash part of the conf's path,
# as nixpkgs takes its conf's. The stream script runs `strata stream-layered` on that spec; the
# built image runs `strata build-layered` on the same spec, so both give the same image.
{ lib, defaultArch, run, closureRoots, streamOf, fileOf, ... }:
let
  layeredConf = args:
    let
      inherit (args) name tag;
      baseName = baseNameOf name;
      contents = map lib.storeString (lib.toList args.contents);
      roots = closureRoots baseName {
        inherit contents;
        inherit (args) config extraCommands fakeRootCommands;
      };
      spec = lib.withoutNulls {
        inherit name tag contents;
        inherit (args) config architecture created mtime uid gid uname gname maxLayers includeStorePaths
          layeringPipeline extraCommands fakeRootCommands enableFakechroot includeNixDB;
        fromImage = if args.fromImage == null then null else lib.storeString args.fromImage;
      };
    in
    assert args.layeringPipeline != null || args.maxLayers > 1
      || throw "in docker image ${name}: maxLayers must be greater than 1 (given: ${toString args.maxLayers})";
    run "conf" {
      name = "${baseName}-conf";
      inherit spec;
      tagFromOutput = tag == null;
      exportReferencesGraph.graph = [ roots ];
    };

  streamLayeredImage =
    { name
    , tag ? null
    , fromImage ? null
    , contents ? [ ]
    , config ? { }
    , architecture ? defaultArch
    , created ? "1970-01-01T00:00:01Z"
    , mtime ? "1970-01-01T00:00:01Z"
    , uid ? 0
    , gid ? 0
    , uname ? "root"
    , gname ? "root"
    , maxLayers ? 100
    , extraCommands ? ""
    , fakeRootCommands ? ""
    , enableFakechroot ? false
    , includeStorePaths ? true
    , includeNixDB ? false
    , passthru ? { }
    , meta ? { }
    , layeringPipeline ? null
      # nixpkgs' layering debug output; strata's plan is `strata plan-layers --table`.
    , debug ? false
    }:
    let
      conf = layeredConf {
        inherit name tag fromImage contents config architecture created mtime uid gid uname gname maxLayers
          extraCommands fakeRootCommands enableFakechroot includeStorePaths includeNixDB layeringPipeline;
      };
      stream = streamOf { inherit name tag conf; command = "stream-layered"; what = "the image"; };
    in
    # As in nixpkgs, the passthru given cannot hide the image's own attributes.
    stream // passthru // { inherit (stream) conf imageName imageTag streamScript isExe; inherit meta; };

  buildLayeredImage = { name, compressor ? "gz", ... }@args:
    fileOf {
      name = "${baseNameOf name}.tar${lib.compressorExtension name compressor}";
      stream = streamLayeredImage (builtins.removeAttrs args [ "compressor" ]);
      command = "build-layered";
      inherit compressor;
    } // (args.passthru or { }) // { meta = args.meta or { }; };
in
{
  inherit streamLayeredImage buildLayeredImage;

  buildLayeredImageWithNixDb = args: buildLayeredImage (args // { includeNixDB = true; });
}
