# nixpkgs' buildImage and buildImageWithNixDb, built by strata (build-image). One derivation: the
# references graph of everything the arguments name is exported into it, and without `tag` the tag
# is the hash part of its own output path, as in nixpkgs.
{ lib, defaultArch, run, closureRoots, ... }:
let
  buildImage =
    { name
    , tag ? null
    , fromImage ? null
    , fromImageName ? null
    , fromImageTag ? null
    , copyToRoot ? null
    , keepContentsDirlinks ? false
    , config ? null
    , architecture ? defaultArch
    , extraCommands ? ""
    , uid ? 0
    , gid ? 0
    , runAsRoot ? null
    , diskSize ? 1024
    , buildVMMemorySize ? 512
    , created ? "1970-01-01T00:00:01Z"
    , compressor ? "gz"
    , includeNixDB ? false
    , meta ? { }
      # Deprecated in nixpkgs: copyToRoot's old name.
    , contents ? null
    }@args:
    let
      baseName = baseNameOf name;
      checked =
        if contents != null && copyToRoot != null then throw "in docker image ${name}: give copyToRoot or contents (its deprecated name), not both"
        else if contents != null then builtins.trace "warning: in docker image ${name}: contents is deprecated in buildImage; it is copied to / as copyToRoot is, so call it copyToRoot" contents
        else copyToRoot;
      rootContents = if checked == null then null else map lib.storeString (lib.toList checked);
      roots = closureRoots baseName { inherit rootContents config extraCommands runAsRoot; };
      spec = lib.withoutNulls {
        inherit name tag fromImageName fromImageTag keepContentsDirlinks config architecture extraCommands uid gid
          runAsRoot diskSize buildVMMemorySize created includeNixDB;
        copyToRoot = rootContents;
        fromImage = if fromImage == null then null else lib.storeString fromImage;
      };
      image = run "strata" {
        name = "docker-image-${baseName}.tar${lib.compressorExtension name compressor}";
        inherit spec;
        tagFromOutput = tag == null;
        exportReferencesGraph.graph = [ roots ];
        strataArgs = [ "build-image" "--compressor" compressor "-o" (builtins.placeholder "out") ];
      };
    in
    image // {
      inherit meta;
      # The list of what the arguments name, whose references graph the image's closure comes from.
      closureRoots = roots;
      buildArgs = args;
      imageName = lib.toLower name;
      imageTag = if tag != null then tag else lib.hashPart image;
    };
in
{
  inherit buildImage;

  buildImageWithNixDb = args: buildImage (args // { includeNixDB = true; });
}
