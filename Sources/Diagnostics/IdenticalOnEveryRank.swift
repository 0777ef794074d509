/// Marks an error that follows only from inputs every rank shares (the config, the data files, the model folder)
/// and is raised before any collective call, so every rank of a job raises it identically.
///
/// The command line reads this marker, not a list of types: for such an error rank 0 alone prints the message and
/// every rank exits with status 1 on its own; any other error may have happened on one rank only, so that rank
/// prints it with its rank number and aborts the whole job rather than leave the others waiting.
/// Errors of the data, tokenizer, chat-template, model and config layers adopt it.
public protocol IdenticalOnEveryRank: Error {}
