// The file form: a file that does not exist.
rsgi::deploy!(file = "etc/no-such-api-paste.ini");

fn main() {}
