"""Everything that speaks Twilio: the Media Streams wire format, signatures, TwiML, REST."""
