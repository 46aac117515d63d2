pub mod sign;
