// msgpackr treats a falsy extractor as 'no native acceleration' and uses its pure-JS decoder.
module.exports = null;
